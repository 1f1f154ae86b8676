package certificate

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"testing"
)

// decryptPKCS8 is the inverse of encryptPKCS8, written from RFC 8018 for
// the round trip; openssl checks the format independently (export tests).
func decryptPKCS8(pemBytes, passphrase []byte) ([]byte, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "ENCRYPTED PRIVATE KEY" {
		return nil, errors.New("not an ENCRYPTED PRIVATE KEY block")
	}
	var info encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(block.Bytes, &info); err != nil || len(rest) > 0 {
		return nil, errors.New("bad EncryptedPrivateKeyInfo")
	}
	p := info.Algorithm.Parameters
	if !info.Algorithm.Algorithm.Equal(oidPBES2) || !p.KeyDerivationFunc.Algorithm.Equal(oidPBKDF2) ||
		!p.KeyDerivationFunc.Parameters.PRF.Algorithm.Equal(oidHMACWithSHA256) || !p.EncryptionScheme.Algorithm.Equal(oidAES256CBC) {
		return nil, errors.New("unexpected algorithms")
	}
	kdf := p.KeyDerivationFunc.Parameters
	key, err := pbkdf2.Key(sha256.New, string(passphrase), kdf.Salt, kdf.IterationCount, 32)
	if err != nil {
		return nil, err
	}
	c, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	data := bytes.Clone(info.EncryptedData)
	if len(data) == 0 || len(data)%aes.BlockSize != 0 {
		return nil, errors.New("bad ciphertext length")
	}
	cipher.NewCBCDecrypter(c, p.EncryptionScheme.IV).CryptBlocks(data, data)
	pad := int(data[len(data)-1])
	if pad < 1 || pad > aes.BlockSize || !bytes.Equal(data[len(data)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		return nil, errors.New("wrong passphrase (bad padding)")
	}
	return data[:len(data)-pad], nil
}

func TestPKCS8RoundTrip(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		key  any
	}{{"RSA_2048", rsaKey}, {"EC_secp384r1", ecKey}} {
		t.Run(tc.name, func(t *testing.T) {
			der, err := x509.MarshalPKCS8PrivateKey(tc.key)
			if err != nil {
				t.Fatal(err)
			}
			pass := []byte("correct horse battery staple")
			enc, err := encryptPKCS8(der, pass)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(enc, der[:32]) {
				t.Fatal("the encrypted PEM contains the key in the clear")
			}
			got, err := decryptPKCS8(enc, pass)
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := x509.ParsePKCS8PrivateKey(got)
			if err != nil {
				t.Fatal(err)
			}
			if !parsed.(interface{ Equal(crypto.PrivateKey) bool }).Equal(tc.key) {
				t.Fatal("the decrypted key is another key")
			}
			// Two exports of one key differ (fresh salt and IV).
			again, _ := encryptPKCS8(der, pass)
			if bytes.Equal(again, enc) {
				t.Fatal("two encryptions are identical")
			}
			// A wrong passphrase fails on the padding, or (1 in 256) yields garbage.
			if wrong, err := decryptPKCS8(enc, []byte("wrong passphrase")); err == nil {
				if _, err := x509.ParsePKCS8PrivateKey(wrong); err == nil {
					t.Fatal("a wrong passphrase decrypted the key")
				}
			}
		})
	}
}

func TestCheckPassphrase(t *testing.T) {
	for _, tc := range []struct {
		pass string
		ok   bool
	}{
		{"abcd", true},
		{"with spaces & symbols!", true},
		{string(bytes.Repeat([]byte("x"), 128)), true},
		{"abc", false},
		{string(bytes.Repeat([]byte("x"), 129)), false},
		{"has#hash", false},
		{"has$dollar", false},
		{"has%percent", false},
		{"naïve-pass", false},
		{"tab\there", false},
	} {
		err := checkPassphrase([]byte(tc.pass))
		if (err == nil) != tc.ok {
			t.Errorf("checkPassphrase(%q) = %v, want ok=%v", tc.pass, err, tc.ok)
		}
	}
	if err := checkPassphrase(nil); err == nil {
		t.Error("a missing passphrase was accepted")
	}
}
