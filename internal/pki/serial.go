package pki

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"math/big"
)

// A leaf's serial number is 16 bytes: 8 random bytes, then the first 8 bytes
// of an HMAC-SHA256 of them under a key derived from the CA's private key.
// The CA thereby recognises the serials it issued (OCSP answers "good" for
// them and "unknown" for any other) without recording every certificate,
// and the recognition survives restarts because the key is derived, not
// stored. Certificates issued before this scheme carry plain random serials:
// they are "unknown" unless revoked.
const (
	serialRandomBytes = 8
	serialMACBytes    = 8
	serialBytes       = serialRandomBytes + serialMACBytes
)

// serialKeyLabel separates this use of the CA key from any other.
const serialKeyLabel = "portico pki serial v1\x00"

func deriveSerialKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: derive the serial key: %w", err)
	}
	h := sha256.New()
	h.Write([]byte(serialKeyLabel))
	h.Write(der)
	return h.Sum(nil), nil
}

func (s *signer) serialMAC(random []byte) []byte {
	m := hmac.New(sha256.New, s.serialKey)
	m.Write(random)
	return m.Sum(nil)[:serialMACBytes]
}

// newLeafSerial returns a positive serial number this signer will recognise.
func (s *signer) newLeafSerial() (*big.Int, error) {
	var b [serialBytes]byte
	for {
		if _, err := rand.Read(b[:serialRandomBytes]); err != nil {
			return nil, fmt.Errorf("pki: serial number: %w", err)
		}
		copy(b[serialRandomBytes:], s.serialMAC(b[:serialRandomBytes]))
		if n := new(big.Int).SetBytes(b[:]); n.Sign() > 0 {
			return n, nil
		}
	}
}

// Issued reports whether serial is one this CA issued a certificate under
// (since serials became recognisable; see above): a leaf of the
// intermediate, or a certificate of the root (the intermediate, or a leaf
// from before the intermediate existed). It cannot tell a certificate that
// was issued from one that merely carries a forged serial, but only the CA
// can sign either.
func (c *CA) Issued(serial *big.Int) bool {
	return c.inter.issued(serial) || c.root.issued(serial)
}

func (s *signer) issued(serial *big.Int) bool {
	if serial == nil || serial.Sign() <= 0 || serial.BitLen() > 8*serialBytes {
		return false
	}
	var b [serialBytes]byte
	serial.FillBytes(b[:])
	return hmac.Equal(b[serialRandomBytes:], s.serialMAC(b[:serialRandomBytes]))
}
