package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/identity"
	"github.com/gatehouse-auth/gatehouse/internal/store"
)

// listFlag collects a repeatable flag (--role admin --role editor).
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

func users(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("users: expected create, list or import")
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("gatehouse users "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		email, pw, name, query, file string
		roles                        listFlag
		limit                        int
		verified, asJSON             bool
	)
	switch sub {
	case "create":
		fs.StringVar(&email, "email", "", "email address (required)")
		fs.StringVar(&pw, "password", "", "password (required; or GATEHOUSE_USER_PASSWORD)")
		fs.StringVar(&name, "name", "", "display name")
		fs.Var(&roles, "role", "role to grant (repeatable; default viewer)")
		fs.BoolVar(&verified, "email-verified", true, "mark the email as verified")
	case "list":
		fs.StringVar(&query, "query", "", "substring of email or name")
		fs.IntVar(&limit, "limit", 50, "how many users")
		fs.BoolVar(&asJSON, "json", false, "print JSON lines")
	case "import":
		fs.StringVar(&file, "file", "", "JSON Lines file to import (required; - for stdin)")
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("users: unknown subcommand %q", sub)
	}
	c, err := config.Load(fs, rest, getenv)
	if err != nil {
		return err
	}
	log := newLogger(c, stderr)
	co, err := buildCore(ctx, c, log, nil, nil)
	if err != nil {
		return err
	}
	defer co.close()
	ctx = audit.WithMeta(ctx, audit.Meta{UserAgent: cliAgent()})
	switch sub {
	case "create":
		if pw == "" {
			pw = getenv("GATEHOUSE_USER_PASSWORD")
		}
		if email == "" || pw == "" {
			return errors.New("users create: --email and --password are required")
		}
		if len(roles) == 0 {
			roles = listFlag{"viewer"}
		}
		in := identity.NewUserInput{SignupInput: identity.SignupInput{Email: email, Password: pw}, Roles: roles, EmailVerified: verified}
		if name != "" {
			in.Name = &name
		}
		u, err := co.identity.Bootstrap(ctx, in)
		if err != nil {
			return fmt.Errorf("users create: %w", err)
		}
		fmt.Fprintf(stdout, "created user %s <%s> with roles %s\n", u.ID, u.Email, strings.Join(u.Roles, ","))
		return nil
	case "list":
		us, err := co.identity.List(ctx, store.UserQuery{Query: query, Limit: limit})
		if err != nil {
			return err
		}
		if asJSON {
			enc := json.NewEncoder(stdout)
			for _, u := range us {
				_ = enc.Encode(map[string]any{"id": u.ID, "email": u.Email, "name": u.Name, "status": u.Status, "roles": u.Roles, "created_at": u.CreatedAt})
			}
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tNAME\tSTATUS\tROLES")
		for _, u := range us {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.ID, u.Email, u.Name, u.Status, strings.Join(u.Roles, ","))
		}
		return tw.Flush()
	case "import":
		if file == "" {
			return errors.New("users import: --file is required")
		}
		var r io.Reader = os.Stdin
		if file != "-" {
			f, err := os.Open(file)
			if err != nil {
				return fmt.Errorf("users import: %w", err)
			}
			defer f.Close()
			r = f
		}
		res, err := co.identity.Import(ctx, r)
		for _, e := range res.Errors {
			fmt.Fprintln(stderr, "skipped:", e)
		}
		fmt.Fprintf(stdout, "imported %d users, skipped %d\n", res.Imported, res.Skipped)
		if err != nil {
			return err
		}
		if res.Skipped > 0 && res.Imported == 0 {
			return errors.New("users import: nothing imported")
		}
		return nil
	}
	return nil
}

// cliAgent names the CLI and the operating-system account and host that
// ran it, so a CLI action in the audit log is attributable to a person
// (Z17) although it has no Gatehouse actor.
func cliAgent() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return fmt.Sprintf("gatehouse-cli (os user %s on %s)", name, host)
}
