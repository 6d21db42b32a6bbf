package gatehouse

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	voied25519 "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// verifyKey is one usable JWKS entry: an asymmetric public key, the one
// algorithm it may verify, and what go-jose verifies signatures with
// (the public key itself, or for Ed25519 an expanded form of it).
type verifyKey struct {
	pub      any
	alg      jose.SignatureAlgorithm
	verifier any
}

// ed25519Verifier checks EdDSA signatures with a public key expanded once
// per JWKS entry (curve25519-voi precomputes the point's tables), about
// 40% faster than crypto/ed25519, which decompresses the key on every
// call. The options are voi's crypto/ed25519-compatible ones: the same
// signatures pass and fail.
type ed25519Verifier struct {
	key *voied25519.ExpandedPublicKey
}

var stdlibOptions = &voied25519.Options{Verify: voied25519.VerifyOptionsStdLib}

// VerifyPayload implements jose.OpaqueVerifier.
func (e ed25519Verifier) VerifyPayload(payload, signature []byte, alg jose.SignatureAlgorithm) error {
	if alg != jose.EdDSA {
		return jose.ErrUnsupportedAlgorithm
	}
	if len(signature) != ed25519.SignatureSize || !voied25519.VerifyExpandedWithOptions(e.key, payload, signature, stdlibOptions) {
		return errors.New("ed25519 signature failed to verify")
	}
	return nil
}

// keySet is an immutable snapshot of the JWKS. A key that survives a
// refresh unchanged keeps its *verifyKey, so the verified-token cache can
// tell "same key" by pointer.
type keySet struct {
	byKID   map[string]*verifyKey
	fetched time.Time
}

// minRSABits is the smallest RSA modulus accepted.
const minRSABits = 2048

// usableKey checks one JWK and pins its algorithm: the JWK's alg when set,
// else the one its key type implies. Private, symmetric, encryption-only
// and weak keys are refused.
func usableKey(k jose.JSONWebKey) (verifyKey, error) {
	if k.KeyID == "" {
		return verifyKey{}, errors.New("no kid")
	}
	if k.Use != "" && k.Use != "sig" {
		return verifyKey{}, fmt.Errorf("use %q is not sig", k.Use)
	}
	if !k.IsPublic() {
		return verifyKey{}, errors.New("not a public key")
	}
	var implied jose.SignatureAlgorithm
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < minRSABits {
			return verifyKey{}, fmt.Errorf("RSA key of %d bits is too small", pub.N.BitLen())
		}
		implied = jose.RS256
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return verifyKey{}, errors.New("EC key is not on P-256")
		}
		implied = jose.ES256
	case ed25519.PublicKey:
		implied = jose.EdDSA
	default:
		return verifyKey{}, fmt.Errorf("key type %T is not RSA, P-256 or Ed25519", k.Key)
	}
	alg := jose.SignatureAlgorithm(k.Algorithm)
	if alg == "" {
		alg = implied
	}
	if alg != implied {
		return verifyKey{}, fmt.Errorf("alg %q does not fit the key (want %s)", alg, implied)
	}
	vk := verifyKey{pub: k.Key, alg: alg, verifier: k.Key}
	if pub, ok := k.Key.(ed25519.PublicKey); ok {
		x, err := voied25519.NewExpandedPublicKey(voied25519.PublicKey(pub))
		if err != nil {
			return verifyKey{}, fmt.Errorf("Ed25519 key: %w", err)
		}
		vk.verifier = jose.OpaqueVerifier(ed25519Verifier{key: x})
	}
	return vk, nil
}

// fetchJWKS reads the server's JWKS. Unusable entries are skipped; a set
// with no usable key is an error, so a broken answer never replaces good
// keys.
func (v *Verifier) fetchJWKS(ctx context.Context) (*keySet, error) {
	var set jose.JSONWebKeySet
	if _, err := v.client.getJSON(ctx, v.s.jwksURL, &set); err != nil {
		return nil, fmt.Errorf("gatehouse: fetch JWKS: %w", err)
	}
	ks := &keySet{byKID: make(map[string]*verifyKey, len(set.Keys)), fetched: time.Now()}
	var prev map[string]*verifyKey
	if old := v.keys.Load(); old != nil {
		prev = old.byKID
	}
	for _, k := range set.Keys {
		vk, err := usableKey(k)
		if err != nil {
			v.s.log.Debug("gatehouse: JWKS key skipped", "kid", k.KeyID, "reason", err)
			continue
		}
		if p, ok := prev[k.KeyID]; ok && p.alg == vk.alg && sameKey(p.pub, vk.pub) {
			ks.byKID[k.KeyID] = p
			continue
		}
		ks.byKID[k.KeyID] = &vk
	}
	if len(ks.byKID) == 0 {
		return nil, fmt.Errorf("gatehouse: fetch JWKS: %s has no usable RS256, ES256 or EdDSA signing key", v.s.jwksURL)
	}
	return ks, nil
}

// sameKey reports whether two public keys are equal.
func sameKey(a, b any) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

// key returns the key with this kid, fetching the JWKS once when the kid
// is unknown and no such fetch happened in the last minForcedRefresh.
func (v *Verifier) key(ctx context.Context, kid string) (*verifyKey, bool) {
	if k, ok := v.keys.Load().byKID[kid]; ok {
		return k, true
	}
	v.refreshMu.Lock()
	defer v.refreshMu.Unlock()
	// Another caller may have fetched while this one waited.
	if k, ok := v.keys.Load().byKID[kid]; ok {
		return k, true
	}
	if !v.lastForce.IsZero() && time.Since(v.lastForce) < minForcedRefresh {
		return nil, false
	}
	v.lastForce = time.Now()
	ks, err := v.fetchJWKS(ctx)
	if err != nil {
		v.s.log.WarnContext(ctx, "gatehouse: JWKS refresh for an unknown kid failed", "err", err)
		return nil, false
	}
	v.keys.Store(ks)
	k, ok := ks.byKID[kid]
	return k, ok
}

// refreshLoop refetches the JWKS whenever it is JWKSRefresh old, and
// retries a failed fetch sooner.
func (v *Verifier) refreshLoop(ctx context.Context) {
	retry := min(30*time.Second, v.s.JWKSRefresh)
	failing := false
	t := time.NewTimer(v.s.JWKSRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// A fetch for an unknown kid may have renewed the set meanwhile.
		if age := time.Since(v.keys.Load().fetched); age < v.s.JWKSRefresh && !failing {
			t.Reset(v.s.JWKSRefresh - age)
			continue
		}
		ks, err := v.fetchJWKS(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				v.s.log.WarnContext(ctx, "gatehouse: JWKS refresh failed; still using the cached keys", "err", err)
			}
			failing = true
			t.Reset(retry)
			continue
		}
		if failing {
			v.s.log.InfoContext(ctx, "gatehouse: JWKS refresh works again")
		}
		failing = false
		v.keys.Store(ks)
		t.Reset(v.s.JWKSRefresh)
	}
}
