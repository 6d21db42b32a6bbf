package identity

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/validation"
)

// ImportRecord is one line of a users import file (JSON Lines). The hash
// is kept as given: bcrypt ($2a$/$2b$/$2y$), argon2id PHC, or the legacy
// salted HMAC-SHA256 given either as password_hash
// "hmac-sha256$<salt>$<hex>" or as separate salt and legacy_hmac fields.
// Each is upgraded to argon2id at the user's next successful login.
type ImportRecord struct {
	Email         string     `json:"email"`
	PasswordHash  string     `json:"password_hash"`
	Salt          string     `json:"salt,omitempty"`
	LegacyHMAC    string     `json:"legacy_hmac,omitempty"`
	Name          string     `json:"name,omitempty"`
	FirstName     string     `json:"first_name,omitempty"`
	LastName      string     `json:"last_name,omitempty"`
	EmailVerified bool       `json:"email_verified,omitempty"`
	Roles         []string   `json:"roles,omitempty"`
	CreatedAt     *time.Time `json:"created_at,omitempty"`
}

// ImportResult counts what happened; Errors name the failing lines.
type ImportResult struct {
	Imported int
	Skipped  int
	Errors   []string
}

// maxImportLine bounds one JSON line (1 MiB).
const maxImportLine = 1 << 20

// Import reads JSON Lines from r and creates each user. A line that fails
// validation or whose email exists is reported and skipped; the others
// are imported (each user in its own transaction).
func (s *Service) Import(ctx context.Context, r io.Reader) (ImportResult, error) {
	var res ImportResult
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), maxImportLine)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		var rec ImportRecord
		dec := json.NewDecoder(strings.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rec); err != nil {
			res.Skipped++
			res.Errors = append(res.Errors, fmt.Sprintf("line %d: not a valid record: %v", line, err))
			continue
		}
		if err := s.importOne(ctx, rec); err != nil {
			res.Skipped++
			res.Errors = append(res.Errors, fmt.Sprintf("line %d (%s): %v", line, rec.Email, err))
			continue
		}
		res.Imported++
	}
	if err := sc.Err(); err != nil {
		return res, fmt.Errorf("read import file at line %d: %w", line+1, err)
	}
	return res, nil
}

func (s *Service) importOne(ctx context.Context, rec ImportRecord) error {
	var errs validation.Errors
	_, norm, problem := validation.NormalizeEmail(rec.Email)
	if problem != "" {
		errs.Add("email", problem)
	}
	hash := rec.PasswordHash
	if hash == "" && rec.LegacyHMAC != "" {
		hash = "hmac-sha256$" + rec.Salt + "$" + strings.ToLower(rec.LegacyHMAC)
	}
	if !password.IsSupportedHash(hash) {
		errs.Add("password_hash", "is not a supported hash (bcrypt, argon2id or hmac-sha256$salt$hex)")
	}
	prof := checkProfile(Profile{Name: &rec.Name, FirstName: &rec.FirstName, LastName: &rec.LastName}, &errs)
	roles := rec.Roles
	if len(roles) == 0 {
		roles = []string{s.o.DefaultRole}
	}
	for _, r := range roles {
		ok, err := s.roles.RoleExists(ctx, r)
		if err != nil {
			return err
		}
		if !ok {
			errs.Add("roles", fmt.Sprintf("unknown role %q", r))
		}
	}
	if err := errs.Err(); err != nil {
		return err
	}
	u := &store.User{Email: norm, EmailNormalized: norm, PasswordHash: hash,
		Name: deref(prof.Name), FirstName: deref(prof.FirstName), LastName: deref(prof.LastName)}
	if rec.Name == "" && (rec.FirstName != "" || rec.LastName != "") {
		u.Name = strings.TrimSpace(rec.FirstName + " " + rec.LastName)
	}
	if rec.CreatedAt != nil {
		u.CreatedAt = rec.CreatedAt.UTC()
	}
	if rec.EmailVerified {
		now := s.o.Now()
		u.EmailVerified, u.EmailVerifiedAt = true, &now
	}
	ev := audit.MetaFrom(ctx).Event(audit.UserImported, audit.Success, "", map[string]any{"hash_format": hashFormat(hash)})
	if err := s.st.CreateUser(ctx, u, roles, ev); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return ErrEmailTaken
		}
		return err
	}
	return nil
}

func hashFormat(h string) string {
	switch {
	case strings.HasPrefix(h, "$argon2id$"):
		return "argon2id"
	case strings.HasPrefix(h, "$2"):
		return "bcrypt"
	default:
		return "legacy-hmac-sha256"
	}
}
