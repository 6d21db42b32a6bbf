package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/store"
)

func testSigningKeys(t *testing.T, st store.Store) {
	ctx := t.Context()
	at := now()
	current := store.SigningKey{
		KID:       newID(t),
		Algorithm: "RS256",
		// Ciphertext: every byte value, NUL and invalid UTF-8 included.
		PrivateKey: func() []byte {
			b := make([]byte, 256)
			for i := range b {
				b[i] = byte(255 - i)
			}
			return b
		}(),
		PublicJWK: `{"kty":"RSA","kid":"k1","use":"sig","alg":"RS256","n":"0vx7agoebGcQSuu","e":"AQAB"}`,
		CreatedAt: at,
	}
	retired := store.SigningKey{
		KID:        newID(t),
		Algorithm:  "EdDSA",
		PrivateKey: []byte{0x00, 0x01, 0xfe, 0xff, 0x00},
		PublicJWK:  `{"kty":"OKP","crv":"Ed25519","kid":"k2","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`,
		CreatedAt:  at.Add(-48 * time.Hour),
		RetiredAt:  ptr(at.Add(-time.Hour)),
	}
	for _, k := range []store.SigningKey{current, retired} {
		if err := st.CreateSigningKey(ctx, &k); err != nil {
			t.Fatalf("CreateSigningKey(%s): %v", k.Algorithm, err)
		}
	}

	keys, err := st.ListSigningKeys(ctx)
	if err != nil {
		t.Fatalf("ListSigningKeys: %v", err)
	}
	for _, want := range []store.SigningKey{current, retired} {
		found := false
		for _, got := range keys {
			if got.KID != want.KID {
				continue
			}
			if found {
				t.Errorf("ListSigningKeys lists %s twice", want.KID)
			}
			found = true
			if d := signingKeyDiff(got, want); len(d) > 0 {
				t.Errorf("signing key %s differs:\n%s", want.Algorithm, d)
			}
		}
		if !found {
			t.Errorf("ListSigningKeys lacks %s key %s", want.Algorithm, want.KID)
		}
	}

	dup := current
	dup.Algorithm = "ES256"
	dup.PrivateKey = []byte("other")
	wantErr(t, st.CreateSigningKey(ctx, &dup), store.ErrConflict, "CreateSigningKey with a taken KID")
}
