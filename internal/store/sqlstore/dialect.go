package sqlstore

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Dialect is what differs between the SQL backends.
type Dialect struct {
	// Name is "sqlite" or "postgres"; it also selects the embedded
	// migrations directory.
	Name string
	// Numbered rewrites ? placeholders to $1, $2, ... (PostgreSQL).
	Numbered bool
	// UnixMicroTimes stores times as INTEGER unix microseconds (SQLite);
	// otherwise time.Time values are passed to the driver (timestamptz).
	UnixMicroTimes bool
	// ForUpdate is appended to SELECTs that lock rows inside a write
	// transaction (" FOR UPDATE" on PostgreSQL; SQLite write transactions
	// are already exclusive).
	ForUpdate string
	// Agg is a format with one %s (a column) that aggregates the column
	// over a group into one comma-separated string.
	Agg string
	// PrepareHot prepares the hot queries once through database/sql
	// (SQLite: the driver would parse them on every call). Leave it off
	// where the driver caches prepared statements per connection itself:
	// pgx does, and database/sql over a pgx pool keeps no idle connection,
	// so a *sql.Stmt would be prepared again and deallocated, two more
	// round trips and a parse, on every use.
	PrepareHot bool
	// WritableCTE runs several INSERTs as one statement through
	// data-modifying WITH clauses (PostgreSQL): one round trip, and the
	// statement is its own transaction.
	WritableCTE bool
	// IsUniqueViolation reports whether err is a unique-constraint failure.
	IsUniqueViolation func(error) bool
	// IsForeignKeyViolation reports whether err is a foreign-key failure.
	IsForeignKeyViolation func(error) bool
	// IsInvalidInput reports whether err is the database refusing a value
	// (bad encoding, NUL in text).
	IsInvalidInput func(error) bool
	// IsUnavailable reports whether err means the database cannot be
	// reached (connection refused, shut down) rather than a bad query.
	IsUnavailable func(error) bool
}

// rebind turns ? placeholders into $n for dialects that need it. Queries in
// this package never contain a literal question mark.
func (d *Dialect) rebind(q string) string {
	if !d.Numbered {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// t encodes a time for the driver.
func (d *Dialect) t(v time.Time) any {
	if d.UnixMicroTimes {
		return v.UTC().UnixMicro()
	}
	return v.UTC()
}

// nt encodes an optional time.
func (d *Dialect) nt(v *time.Time) any {
	if v == nil {
		return nil
	}
	return d.t(*v)
}

// timeScan scans either representation into a time.Time (UTC, microsecond
// precision).
type timeScan struct{ dst *time.Time }

func (s timeScan) Scan(src any) error {
	switch v := src.(type) {
	case int64:
		*s.dst = time.UnixMicro(v).UTC()
	case time.Time:
		*s.dst = v.UTC().Truncate(time.Microsecond)
	case nil:
		*s.dst = time.Time{}
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into time", src)
	}
	return nil
}

// nullTimeScan scans a nullable time into a *time.Time.
type nullTimeScan struct{ dst **time.Time }

func (s nullTimeScan) Scan(src any) error {
	if src == nil {
		*s.dst = nil
		return nil
	}
	var t time.Time
	if err := (timeScan{&t}).Scan(src); err != nil {
		return err
	}
	*s.dst = &t
	return nil
}

// jsonMap scans a JSON object column (TEXT or JSONB) into a map.
type jsonMap struct{ dst *map[string]any }

func (s jsonMap) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*s.dst = nil
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into JSON", src)
	}
	m := map[string]any{}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("sqlstore: bad JSON column: %w", err)
		}
	}
	if len(m) == 0 {
		m = nil
	}
	*s.dst = m
	return nil
}

// listScan scans a comma-separated aggregate into a sorted-as-stored slice.
type listScan struct{ dst *[]string }

func (s listScan) Scan(src any) error {
	var str string
	switch v := src.(type) {
	case nil:
		*s.dst = nil
		return nil
	case string:
		str = v
	case []byte:
		str = string(v)
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into list", src)
	}
	if str == "" {
		*s.dst = nil
		return nil
	}
	*s.dst = strings.Split(str, ",")
	return nil
}

func jsonText(m map[string]any) (string, error) {
	if m == nil {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode JSON column: %w", err)
	}
	return string(b), nil
}

var _ driver.Valuer = (*nullString)(nil)

// nullString stores "" as NULL (for unique nullable columns like username).
type nullString struct{ p *string }

func (n nullString) Value() (driver.Value, error) {
	if n.p == nil || *n.p == "" {
		return nil, nil
	}
	return *n.p, nil
}
