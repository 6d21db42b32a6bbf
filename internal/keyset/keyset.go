package keyset

import (
	"cmp"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-auth/gatehouse/internal/store"
)

// Store is the part of the store keyset needs. Keys are only ever added:
// rotation is an insert, never an update (see the package doc).
type Store interface {
	ListSigningKeys(ctx context.Context) ([]store.SigningKey, error)
	CreateSigningKey(ctx context.Context, k *store.SigningKey) error
}

var _ Store = (store.Store)(nil)

// ErrWrongMasterKey is wrapped by New and Reload when a stored signing key
// does not decrypt, which almost always means the master key differs from
// the one the key was stored under.
var ErrWrongMasterKey = errors.New("wrong master key?")

// Supported signing algorithms.
const (
	RS256 = "RS256"
	ES256 = "ES256"
	EdDSA = "EdDSA"
)

// Defaults for Options.
const (
	DefaultAlgorithm   = RS256
	DefaultRSABits     = 2048
	DefaultRetireAfter = 24 * time.Hour
)

// Options configure a Set. Zero values take the defaults.
type Options struct {
	// Algorithm of newly generated keys: "RS256" (default), "ES256" or
	// "EdDSA". When the active key has another algorithm, New rotates to a
	// key of this one; the old key stays published for RetireAfter.
	Algorithm string
	// RSABits is the RSA modulus size for RS256 keys: 2048 (default) or more.
	RSABits int
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// RetireAfter is how long a retired key stays published. It must cover
	// the longest lifetime of a token the key signed plus the verifiers'
	// clock leeway. Default 24h.
	RetireAfter time.Duration
	// OnRotate, when set, is called with the new kid after Rotate has
	// stored and activated a key (not for a key New creates), so other
	// replicas can be told to Reload.
	OnRotate func(kid string)
}

func (o *Options) defaults() error {
	if o.Algorithm == "" {
		o.Algorithm = DefaultAlgorithm
	}
	switch o.Algorithm {
	case RS256, ES256, EdDSA:
	default:
		return fmt.Errorf("keyset: algorithm %q is not one of RS256, ES256, EdDSA", o.Algorithm)
	}
	if o.RSABits == 0 {
		o.RSABits = DefaultRSABits
	}
	if o.RSABits < 2048 {
		return fmt.Errorf("keyset: RSA keys must have at least 2048 bits, got %d", o.RSABits)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RetireAfter == 0 {
		o.RetireAfter = DefaultRetireAfter
	}
	if o.RetireAfter < 0 {
		return fmt.Errorf("keyset: negative RetireAfter %s", o.RetireAfter)
	}
	return nil
}

// Key is a decrypted signing key. Private is one of *rsa.PrivateKey,
// *ecdsa.PrivateKey (P-256) or ed25519.PrivateKey, matching Algorithm.
// Key values are shared and must not be modified. String and GoString
// print only the kid and algorithm.
type Key struct {
	KID       string
	Algorithm jose.SignatureAlgorithm
	Private   crypto.Signer
	CreatedAt time.Time
}

// Public returns the public half as a JWK with kid, alg and use "sig".
func (k Key) Public() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.Private.Public(), KeyID: k.KID, Algorithm: string(k.Algorithm), Use: "sig"}
}

// String never prints key material.
func (k Key) String() string { return fmt.Sprintf("keyset.Key{kid=%s alg=%s}", k.KID, k.Algorithm) }

// GoString never prints key material.
func (k Key) GoString() string { return k.String() }

// Set holds the decrypted signing keys. It is safe for concurrent use:
// readers see an immutable snapshot; Rotate and Reload build a new one.
type Set struct {
	st   Store
	mk   MasterKey
	opts Options

	mu   sync.Mutex // serialises Rotate and Reload so a slow reload never overwrites a newer snapshot
	snap atomic.Pointer[snapshot]
}

type entry struct {
	key       Key
	pub       jose.JSONWebKey
	retiredAt time.Time // zero for the active key
}

type snapshot struct {
	active *entry
	keys   []*entry // newest first
	byKID  map[string]*entry
}

// New loads the keys from st and decrypts them with mk. When there is no
// active key, or the active key's algorithm is not o.Algorithm, it
// generates a key, stores it and makes it active. A key that does not
// decrypt gives the error "keyset: cannot decrypt signing key <kid>: wrong
// master key?" (wrapping ErrWrongMasterKey).
func New(ctx context.Context, st Store, mk MasterKey, o Options) (*Set, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if mk.IsZero() {
		return nil, errors.New("keyset: master key not set")
	}
	s := &Set{st: st, mk: mk, opts: o}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.reloadLocked(ctx); err != nil {
		return nil, err
	}
	if a := s.snap.Load().active; a == nil || string(a.key.Algorithm) != o.Algorithm {
		if _, err := s.rotateLocked(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Active returns the key that signs new tokens.
func (s *Set) Active() Key { return s.snap.Load().active.key }

// JWKS returns the public keys to publish: the active key and every retired
// key still within RetireAfter of its retirement, newest first, each with
// kid, alg and use "sig".
func (s *Set) JWKS() jose.JSONWebKeySet {
	snap, now := s.snap.Load(), s.opts.Now()
	out := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(snap.keys))}
	for _, e := range snap.keys {
		if s.published(e, now) {
			out.Keys = append(out.Keys, e.pub)
		}
	}
	return out
}

// PublicKey returns the published public key with this kid. Keys retired
// longer than RetireAfter ago are not found.
func (s *Set) PublicKey(kid string) (jose.JSONWebKey, bool) {
	e, ok := s.snap.Load().byKID[kid]
	if !ok || !s.published(e, s.opts.Now()) {
		return jose.JSONWebKey{}, false
	}
	return e.pub, true
}

func (s *Set) published(e *entry, now time.Time) bool {
	return e.retiredAt.IsZero() || now.Before(e.retiredAt.Add(s.opts.RetireAfter))
}

// Rotate generates a new key of the configured algorithm and stores it; it
// becomes the active key and the previous one is retired as of the new
// key's CreatedAt (no row is updated; see the package doc). It returns the
// new kid. Other replicas see the new key after their next Reload, which
// Options.OnRotate can trigger.
func (s *Set) Rotate(ctx context.Context) (newKID string, err error) {
	s.mu.Lock()
	kid, err := s.rotateLocked(ctx)
	s.mu.Unlock()
	if err == nil && s.opts.OnRotate != nil {
		s.opts.OnRotate(kid)
	}
	return kid, err
}

// Reload re-reads the keys from the store, for when another replica has
// rotated. Keys already in memory are not decrypted again. On error the
// previous snapshot stays in place.
func (s *Set) Reload(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reloadLocked(ctx)
}

func (s *Set) rotateLocked(ctx context.Context) (string, error) {
	created := s.opts.Now().UTC().Truncate(time.Second)
	if old := s.snap.Load(); old != nil && len(old.keys) > 0 {
		// Strictly after every key we know, in whole seconds, so the new
		// key sorts first even in a store that keeps second precision.
		if newest := old.keys[0].key.CreatedAt.UTC().Truncate(time.Second); !created.After(newest) {
			created = newest.Add(time.Second)
		}
	}
	row, err := s.generate(created)
	if err != nil {
		return "", err
	}
	if err := s.st.CreateSigningKey(ctx, row); err != nil {
		return "", fmt.Errorf("keyset: store signing key: %w", err)
	}
	if err := s.reloadLocked(ctx); err != nil {
		return "", err
	}
	if _, ok := s.snap.Load().byKID[row.KID]; !ok {
		return "", fmt.Errorf("keyset: stored signing key %s not found on reload", row.KID)
	}
	return row.KID, nil
}

// generate makes a new key and its encrypted store row.
func (s *Set) generate(created time.Time) (*store.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch s.opts.Algorithm {
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, s.opts.RSABits)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		return nil, fmt.Errorf("keyset: generate %s key: %w", s.opts.Algorithm, err)
	}
	pub := jose.JSONWebKey{Key: priv.Public(), Algorithm: s.opts.Algorithm, Use: "sig"}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("keyset: thumbprint: %w", err)
	}
	pub.KeyID = base64.RawURLEncoding.EncodeToString(tp) // RFC 7638
	pubJSON, err := json.Marshal(pub)
	if err != nil {
		return nil, fmt.Errorf("keyset: encode public key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("keyset: encode private key: %w", err)
	}
	defer clear(der)
	sealed, err := s.mk.Seal(der, []byte(pub.KeyID))
	if err != nil {
		return nil, err
	}
	return &store.SigningKey{
		KID:        pub.KeyID,
		Algorithm:  s.opts.Algorithm,
		PrivateKey: sealed,
		PublicJWK:  string(pubJSON),
		CreatedAt:  created,
	}, nil
}

func (s *Set) reloadLocked(ctx context.Context) error {
	rows, err := s.st.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("keyset: list signing keys: %w", err)
	}
	// Newest first; ties broken by kid so every replica picks the same key.
	slices.SortFunc(rows, func(a, b store.SigningKey) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.KID, a.KID)
	})

	var prev map[string]*entry
	if old := s.snap.Load(); old != nil {
		prev = old.byKID
	}
	now := s.opts.Now()
	next := &snapshot{byKID: make(map[string]*entry, len(rows))}
	var successor time.Time // CreatedAt of the next newer key not explicitly retired
	for i := range rows {
		r := &rows[i]
		if _, dup := next.byKID[r.KID]; dup {
			return fmt.Errorf("keyset: signing key %s stored twice", r.KID)
		}
		var retiredAt time.Time
		switch {
		case r.RetiredAt != nil:
			retiredAt = *r.RetiredAt
		case next.active == nil:
			// The newest key not explicitly retired: active.
		default:
			retiredAt = successor
		}
		if r.RetiredAt == nil {
			successor = r.CreatedAt
		}
		isActive := r.RetiredAt == nil && next.active == nil
		if !isActive && !now.Before(retiredAt.Add(s.opts.RetireAfter)) {
			continue // expired: tokens it signed are all expired too
		}
		e := &entry{retiredAt: retiredAt}
		if p, ok := prev[r.KID]; ok {
			e.key, e.pub = p.key, p.pub
		} else if e.key, err = s.decode(r); err != nil {
			return err
		} else {
			e.pub = e.key.Public()
		}
		if isActive {
			next.active = e
		}
		next.keys = append(next.keys, e)
		next.byKID[r.KID] = e
	}
	s.snap.Store(next)
	return nil
}

// decode decrypts a stored key and checks it against its algorithm and its
// stored public JWK.
func (s *Set) decode(r *store.SigningKey) (Key, error) {
	der, err := s.mk.Open(r.PrivateKey, []byte(r.KID))
	if err != nil {
		return Key{}, fmt.Errorf("keyset: cannot decrypt signing key %s: %w", r.KID, ErrWrongMasterKey)
	}
	defer clear(der)
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return Key{}, fmt.Errorf("keyset: signing key %s: parse private key: %w", r.KID, err)
	}
	priv, ok := parsed.(crypto.Signer)
	if !ok || !keyMatchesAlg(priv, r.Algorithm) {
		return Key{}, fmt.Errorf("keyset: signing key %s: private key of type %T does not fit algorithm %q", r.KID, parsed, r.Algorithm)
	}
	var stored jose.JSONWebKey
	if err := json.Unmarshal([]byte(r.PublicJWK), &stored); err != nil {
		return Key{}, fmt.Errorf("keyset: signing key %s: parse public JWK: %w", r.KID, err)
	}
	pub, ok := priv.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !stored.IsPublic() || !pub.Equal(stored.Key) || stored.KeyID != r.KID {
		return Key{}, fmt.Errorf("keyset: signing key %s: stored public JWK does not match the private key", r.KID)
	}
	return Key{KID: r.KID, Algorithm: jose.SignatureAlgorithm(r.Algorithm), Private: priv, CreatedAt: r.CreatedAt}, nil
}

func keyMatchesAlg(k crypto.Signer, alg string) bool {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return alg == RS256 && k.N.BitLen() >= 2048
	case *ecdsa.PrivateKey:
		return alg == ES256 && k.Curve == elliptic.P256()
	case ed25519.PrivateKey:
		return alg == EdDSA
	}
	return false
}
