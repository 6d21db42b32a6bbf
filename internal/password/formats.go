package password

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Errors for stored hashes Verify cannot use. None of them means "wrong
// password": that is ok == false with a nil error. Their messages never
// contain the hash or the password.
var (
	// ErrUnknownFormat: the string is not argon2id, bcrypt or legacy HMAC.
	ErrUnknownFormat = errors.New("password: unknown hash format")
	// ErrMalformedHash: the format is known but the string does not follow it.
	ErrMalformedHash = errors.New("password: malformed hash")
	// ErrUnsupportedParams: the hash is well formed but its cost parameters
	// are outside what Gatehouse agrees to compute (see Params.Validate and
	// Options.MaxMemory; bcrypt cost 4 to 14).
	ErrUnsupportedParams = errors.New("password: unsupported hash parameters")
)

const (
	// maxEncodedLen bounds every accepted hash string before it is split:
	// the longest valid one (argon2id with 1024-byte salt and key, or a
	// legacy string with a 1024-byte salt) is under 3000 bytes.
	maxEncodedLen = 4096

	argon2idPrefix = "$argon2id$"
	legacyPrefix   = "hmac-sha256$"

	// bcrypt cost bounds: 4 is the algorithm's minimum; 14 takes about a
	// second, beyond that one login would hold a worker too long.
	minBcryptCost = bcrypt.MinCost
	maxBcryptCost = 14

	// bcryptAlphabet is bcrypt's own base64 alphabet.
	bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

	maxLegacySaltLen = 1024
)

// b64 returns the PHC string encoding of salt and key, as in the reference
// implementation: standard alphabet, no padding. Strict decoding rejects
// non-canonical trailing bits, so every hash has exactly one spelling.
func b64() *base64.Encoding { return base64.RawStdEncoding.Strict() }

// parseLimits bound what parseHash accepts.
type parseLimits struct {
	maxMemory     uint32 // argon2id memory in KiB
	maxBcryptCost int
}

func defaultParseLimits() parseLimits {
	return parseLimits{maxMemory: DefaultMaxMemory, maxBcryptCost: maxBcryptCost}
}

// storedHash is a parsed hash of any supported format.
type storedHash interface {
	// matches recomputes the hash of password with the stored salt and
	// parameters (argon2id keys through derive) and compares in constant
	// time. It is the expensive part and must run inside the Hasher's
	// pool. An error means the check did not happen.
	matches(derive deriveFunc, password string) (bool, error)
	// current reports whether the hash is argon2id with exactly p.
	current(p Params) bool
}

// parseHash recognises the format of encoded and parses it strictly. Its
// cost is linear in len(encoded), which is bounded; it never hashes.
func parseHash(encoded string, l parseLimits) (storedHash, error) {
	if !strings.HasPrefix(encoded, argon2idPrefix) && !strings.HasPrefix(encoded, "$2") &&
		!strings.HasPrefix(encoded, legacyPrefix) {
		return nil, ErrUnknownFormat
	}
	if len(encoded) > maxEncodedLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformedHash, maxEncodedLen)
	}
	var (
		h   storedHash
		err error
	)
	// Each parser returns a concrete pointer; assign only on success so a
	// failed parse never yields a non-nil interface holding a nil pointer.
	switch {
	case strings.HasPrefix(encoded, argon2idPrefix):
		var a *argon2Hash
		if a, err = parseArgon2id(encoded, l.maxMemory); err == nil {
			h = a
		}
	case strings.HasPrefix(encoded, "$2"):
		var b *bcryptHash
		if b, err = parseBcrypt(encoded, l.maxBcryptCost); err == nil {
			h = b
		}
	case strings.HasPrefix(encoded, legacyPrefix):
		var g *legacyHash
		if g, err = parseLegacy(encoded); err == nil {
			h = g
		}
	}
	return h, err
}

// IsSupportedHash reports whether Verify (with default Options) accepts
// encoded: a well-formed argon2id, bcrypt or legacy HMAC string with
// parameters inside the limits. The import command uses it to reject bad
// rows before they reach the database. It does not hash.
func IsSupportedHash(encoded string) bool {
	_, err := parseHash(encoded, defaultParseLimits())
	return err == nil
}

// ---- argon2id ----

// argon2Hash is a parsed argon2id PHC string. params.SaltLen and
// params.KeyLen are the decoded lengths of salt and key.
type argon2Hash struct {
	params Params
	salt   []byte
	key    []byte
}

func (h *argon2Hash) matches(derive deriveFunc, password string) (bool, error) {
	got, err := derive([]byte(password), h.salt, h.params)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, h.key) == 1, nil
}

// deriveFunc computes the argon2id key of password with salt and p: in
// this process (idKey) or in a worker process (processPool.IDKey).
type deriveFunc func(password, salt []byte, p Params) ([]byte, error)

// idKey is argon2id from x/crypto, in this process.
func idKey(password, salt []byte, p Params) ([]byte, error) {
	return argon2.IDKey(password, salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLen), nil
}

func (h *argon2Hash) current(p Params) bool { return h.params == p }

// encodeArgon2id returns the PHC string for key derived with p and salt:
// $argon2id$v=19$m=<KiB>,t=<iterations>,p=<lanes>$<salt>$<key>.
func encodeArgon2id(p Params, salt, key []byte) string {
	enc := b64()
	return fmt.Sprintf("%sv=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2idPrefix, argon2.Version, p.Memory, p.Iterations, p.Parallelism,
		enc.EncodeToString(salt), enc.EncodeToString(key))
}

// parseArgon2id parses the exact shape encodeArgon2id writes: version 19,
// the three parameters in the order m, t, p as canonical decimals (no sign,
// no leading zeros), no optional PHC fields, salt and key in unpadded
// canonical base64. Parameters must be inside hardLimits(maxMemory).
func parseArgon2id(encoded string, maxMemory uint32) (*argon2Hash, error) {
	malformed := func(what string) error {
		return fmt.Errorf("%w: argon2id: %s", ErrMalformedHash, what)
	}
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	parts := strings.SplitN(encoded, "$", 7)
	if len(parts) != 6 {
		return nil, malformed("want 5 '$'-separated fields")
	}
	ver, ok := strings.CutPrefix(parts[2], "v=")
	if !ok {
		return nil, malformed("missing version")
	}
	v, err := parseDecimal(ver, 32)
	if err != nil {
		return nil, malformed("bad version")
	}
	if v != argon2.Version {
		return nil, fmt.Errorf("%w: argon2id version %d (only %d)", ErrUnsupportedParams, v, argon2.Version)
	}

	fields := strings.Split(parts[3], ",")
	if len(fields) != 3 {
		return nil, malformed("want parameters m,t,p")
	}
	var vals [3]uint64
	for i, name := range [3]string{"m=", "t=", "p="} {
		s, ok := strings.CutPrefix(fields[i], name)
		if !ok {
			return nil, malformed("want parameters m,t,p in that order")
		}
		bits := 32
		if name == "p=" {
			bits = 8
		}
		n, err := parseDecimal(s, bits)
		if err != nil {
			// Out of range for the type is still an absurd parameter, not
			// a syntax error; report it as such.
			if errors.Is(err, strconv.ErrRange) {
				return nil, fmt.Errorf("%w: argon2id %s%s is out of range", ErrUnsupportedParams, name, s)
			}
			return nil, malformed("bad parameter " + name)
		}
		vals[i] = n
	}

	// Bound the lengths before decoding so decoding is cheap too.
	enc := b64()
	minEnc, maxEnc := enc.EncodedLen(int(minSaltKeyLen)), enc.EncodedLen(int(maxSaltKeyLen))
	if n := len(parts[4]); n < minEnc || n > maxEnc {
		return nil, fmt.Errorf("%w: argon2id salt length out of %d..%d bytes", ErrUnsupportedParams, minSaltKeyLen, maxSaltKeyLen)
	}
	if n := len(parts[5]); n < minEnc || n > maxEnc {
		return nil, fmt.Errorf("%w: argon2id key length out of %d..%d bytes", ErrUnsupportedParams, minSaltKeyLen, maxSaltKeyLen)
	}
	salt, err := enc.DecodeString(parts[4])
	if err != nil {
		return nil, malformed("salt is not canonical unpadded base64")
	}
	key, err := enc.DecodeString(parts[5])
	if err != nil {
		return nil, malformed("key is not canonical unpadded base64")
	}

	h := &argon2Hash{
		params: Params{
			Memory:      uint32(vals[0]),
			Iterations:  uint32(vals[1]),
			Parallelism: uint8(vals[2]),
			SaltLen:     uint32(len(salt)),
			KeyLen:      uint32(len(key)),
		},
		salt: salt,
		key:  key,
	}
	if err := h.params.check(hardLimits(maxMemory)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupportedParams, err)
	}
	return h, nil
}

// parseDecimal parses a canonical unsigned decimal: digits only, no sign,
// no leading zero unless the number is 0. Too large for bits is an error
// matching strconv.ErrRange.
func parseDecimal(s string, bits int) (uint64, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, strconv.ErrSyntax
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, strconv.ErrSyntax
		}
	}
	return strconv.ParseUint(s, 10, bits)
}

// ---- bcrypt ----

// bcryptHash is a validated bcrypt string, compared by x/crypto/bcrypt.
type bcryptHash struct{ encoded []byte }

func (h *bcryptHash) matches(_ deriveFunc, password string) (bool, error) {
	// Like every bcrypt implementation, only the first 72 bytes count.
	return bcrypt.CompareHashAndPassword(h.encoded, []byte(password)) == nil, nil
}

func (h *bcryptHash) current(Params) bool { return false }

// parseBcrypt accepts exactly $2a$, $2b$ or $2y$, a two-digit cost in
// minBcryptCost..maxCost, and 53 characters of bcrypt base64 (22 salt, 31
// hash): 60 bytes in all. $2x$ (the crypt_blowfish sign-extension bug) and
// other variants are not supported.
func parseBcrypt(encoded string, maxCost int) (*bcryptHash, error) {
	malformed := func(what string) error {
		return fmt.Errorf("%w: bcrypt: %s", ErrMalformedHash, what)
	}
	if len(encoded) < 4 || encoded[3] != '$' {
		return nil, malformed("bad prefix")
	}
	switch encoded[:4] {
	case "$2a$", "$2b$", "$2y$":
	default:
		return nil, fmt.Errorf("%w: bcrypt variant %q", ErrUnsupportedParams, encoded[:3])
	}
	if len(encoded) != 60 {
		return nil, malformed("want 60 characters")
	}
	costStr, rest := encoded[4:6], encoded[6:]
	if costStr[0] < '0' || costStr[0] > '9' || costStr[1] < '0' || costStr[1] > '9' || rest[0] != '$' {
		return nil, malformed("bad cost field")
	}
	for i := 1; i < len(rest); i++ {
		if strings.IndexByte(bcryptAlphabet, rest[i]) < 0 {
			return nil, malformed("bad character in salt or hash")
		}
	}
	cost := int(costStr[0]-'0')*10 + int(costStr[1]-'0')
	if cost < minBcryptCost || cost > maxCost {
		return nil, fmt.Errorf("%w: bcrypt cost %d outside %d..%d", ErrUnsupportedParams, cost, minBcryptCost, maxCost)
	}
	return &bcryptHash{encoded: []byte(encoded)}, nil
}

// ---- legacy HMAC-SHA256 ----

// legacyHash is "hmac-sha256$<salt>$<hex>": hex(HMAC-SHA256(key = the salt
// string's bytes, message = password)), the scheme of the system Gatehouse
// replaces (U2). It is fast to compute, hence only accepted for import and
// replaced at the next successful login.
type legacyHash struct {
	salt string
	mac  []byte
}

func (h *legacyHash) matches(_ deriveFunc, password string) (bool, error) {
	return hmac.Equal(legacyMAC(h.salt, password), h.mac), nil
}

func (h *legacyHash) current(Params) bool { return false }

func legacyMAC(salt, password string) []byte {
	m := hmac.New(sha256.New, []byte(salt))
	m.Write([]byte(password))
	return m.Sum(nil)
}

// LegacyHMAC returns the legacy hash string for salt and password:
// "hmac-sha256$" + salt + "$" + lowercase hex of HMAC-SHA256 keyed with the
// salt's bytes over the password. It documents the import format and builds
// test fixtures; Gatehouse never stores hashes made this way.
func LegacyHMAC(salt, password string) string {
	return legacyPrefix + salt + "$" + hex.EncodeToString(legacyMAC(salt, password))
}

// parseLegacy splits at the last '$', so the salt may itself contain '$'.
// The salt must be 1 to 1024 bytes; the MAC exactly 64 hex digits (either
// case).
func parseLegacy(encoded string) (*legacyHash, error) {
	rest := encoded[len(legacyPrefix):]
	i := strings.LastIndexByte(rest, '$')
	if i < 0 {
		return nil, fmt.Errorf("%w: hmac-sha256: want salt$hex", ErrMalformedHash)
	}
	salt, hexMAC := rest[:i], rest[i+1:]
	if salt == "" || len(salt) > maxLegacySaltLen {
		return nil, fmt.Errorf("%w: hmac-sha256: salt must be 1 to %d bytes", ErrMalformedHash, maxLegacySaltLen)
	}
	if len(hexMAC) != 2*sha256.Size {
		return nil, fmt.Errorf("%w: hmac-sha256: want %d hex digits", ErrMalformedHash, 2*sha256.Size)
	}
	mac, err := hex.DecodeString(hexMAC)
	if err != nil {
		return nil, fmt.Errorf("%w: hmac-sha256: MAC is not hex", ErrMalformedHash)
	}
	return &legacyHash{salt: salt, mac: mac}, nil
}
