package keyset

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/gatehouse-auth/gatehouse/internal/secret"
)

// MasterKeySize is the length of a master key in bytes (AES-256).
const MasterKeySize = 32

const nonceSize = 12

// ErrDecrypt means a sealed value did not open: wrong master key, wrong
// additional data, or tampered or truncated ciphertext. Which one is
// deliberately not said.
var ErrDecrypt = errors.New("keyset: decryption failed")

// MasterKey encrypts signing keys at rest. The zero value is not a valid
// key; build one with ParseMasterKey, GenerateMasterKey or
// LoadOrCreateMasterKeyFile. It redacts itself in every fmt verb and in slog.
type MasterKey struct {
	b   [MasterKeySize]byte
	set bool
}

// GenerateMasterKey returns a new random master key.
func GenerateMasterKey() (MasterKey, error) {
	var m MasterKey
	if _, err := rand.Read(m.b[:]); err != nil {
		return MasterKey{}, fmt.Errorf("keyset: generate master key: %w", err)
	}
	m.set = true
	return m, nil
}

// ParseMasterKey decodes a base64 master key (standard or URL alphabet,
// padded or not, surrounding whitespace ignored) that must be exactly 32
// bytes. Errors never include the input.
func ParseMasterKey(b64 string) (MasterKey, error) {
	s := strings.TrimSpace(b64)
	if s == "" {
		return MasterKey{}, errors.New("keyset: master key is empty")
	}
	var raw []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err = enc.DecodeString(s); err == nil {
			break
		}
	}
	if err != nil {
		return MasterKey{}, errors.New("keyset: master key is not valid base64")
	}
	defer clear(raw)
	if len(raw) != MasterKeySize {
		return MasterKey{}, fmt.Errorf("keyset: master key must decode to %d bytes, got %d", MasterKeySize, len(raw))
	}
	var m MasterKey
	copy(m.b[:], raw)
	m.set = true
	return m, nil
}

// Encode returns the key as standard padded base64, the form
// ParseMasterKey and the key file accept.
func (m MasterKey) Encode() secret.Secret {
	return secret.Secret(base64.StdEncoding.EncodeToString(m.b[:]))
}

// IsZero reports whether m was never set.
func (m MasterKey) IsZero() bool { return !m.set }

// Format redacts the key for every fmt verb.
func (m MasterKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, "[REDACTED]") }

// LogValue redacts the key in slog.
func (m MasterKey) LogValue() slog.Value { return slog.StringValue("[REDACTED]") }

func (m MasterKey) aead() (cipher.AEAD, error) {
	if !m.set {
		return nil, errors.New("keyset: master key not set")
	}
	block, err := aes.NewCipher(m.b[:])
	if err != nil {
		return nil, fmt.Errorf("keyset: %w", err)
	}
	return cipher.NewGCM(block)
}

// Seal encrypts plain with AES-256-GCM under a random nonce and binds it to
// aad; the result is nonce||ciphertext||tag. Open with the same aad.
func (m MasterKey) Seal(plain, aad []byte) ([]byte, error) {
	g, err := m.aead()
	if err != nil {
		return nil, err
	}
	out := make([]byte, nonceSize, nonceSize+len(plain)+g.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, fmt.Errorf("keyset: nonce: %w", err)
	}
	return g.Seal(out, out, plain, aad), nil
}

// Open reverses Seal. Any failure (wrong key, wrong aad, tampering,
// truncation) returns an error wrapping ErrDecrypt.
func (m MasterKey) Open(sealed, aad []byte) ([]byte, error) {
	g, err := m.aead()
	if err != nil {
		return nil, err
	}
	if len(sealed) < nonceSize+g.Overhead() {
		return nil, fmt.Errorf("%w: ciphertext too short", ErrDecrypt)
	}
	plain, err := g.Open(nil, sealed[:nonceSize], sealed[nonceSize:], aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return plain, nil
}

// LoadOrCreateMasterKeyFile reads the base64 master key at path, or, when
// no file exists, generates one and writes it there with mode 0600
// (created reports which). An existing file that group or others may read
// or write is refused rather than trusted, with a message saying how to fix
// it. Creation is atomic (written to a temporary file, then hard-linked into
// place), so two processes starting together agree on one key and a crash
// never leaves a half-written key file. The parent directory must exist.
func LoadOrCreateMasterKeyFile(path string) (m MasterKey, created bool, err error) {
	for range 3 {
		m, err = readMasterKeyFile(path)
		if err == nil {
			return m, false, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return MasterKey{}, false, err
		}
		m, err = createMasterKeyFile(path)
		if err == nil {
			return m, true, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return MasterKey{}, false, err
		}
		// Another process created it between our read and link: read again.
	}
	return MasterKey{}, false, fmt.Errorf("keyset: master key file %s: could neither read nor create it", path)
}

func readMasterKeyFile(path string) (MasterKey, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return MasterKey{}, err
		}
		return MasterKey{}, fmt.Errorf("keyset: open master key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return MasterKey{}, fmt.Errorf("keyset: stat master key file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return MasterKey{}, fmt.Errorf("keyset: master key file %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return MasterKey{}, fmt.Errorf("keyset: master key file %s has mode %04o: group or others can access it; run chmod 600 on it (and consider whether the key leaked)", path, perm)
	}
	b, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return MasterKey{}, fmt.Errorf("keyset: read master key file: %w", err)
	}
	defer clear(b)
	m, err := ParseMasterKey(string(b))
	if err != nil {
		return MasterKey{}, fmt.Errorf("master key file %s: %w", path, err)
	}
	return m, nil
}

func createMasterKeyFile(path string) (MasterKey, error) {
	m, err := GenerateMasterKey()
	if err != nil {
		return MasterKey{}, err
	}
	// CreateTemp uses mode 0600.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".master.key-*")
	if err != nil {
		return MasterKey{}, fmt.Errorf("keyset: create master key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		tmp.Close()
		return MasterKey{}, fmt.Errorf("keyset: create master key file: %w", err)
	}
	_, werr := io.WriteString(tmp, m.Encode().Reveal()+"\n")
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return MasterKey{}, fmt.Errorf("keyset: write master key file: %w", werr)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return MasterKey{}, err
		}
		return MasterKey{}, fmt.Errorf("keyset: create master key file: %w", err)
	}
	return m, nil
}
