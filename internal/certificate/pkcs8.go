package certificate

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
)

// The Go standard library reads and writes PKCS #8 but never encrypts it;
// ExportCertificate must (ACM returns the key encrypted with the caller's
// passphrase). This is RFC 8018 PBES2 with the parameters OpenSSL 3 uses
// by default: PBKDF2-HMAC-SHA256 and AES-256-CBC, so `openssl pkey` (and
// `openssl rsa`, as ACM's documentation suggests) decrypt it.

var (
	oidPBES2          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHMACWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidAES256CBC      = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
)

// pbkdf2Iterations costs an attacker with the file real work while an
// export stays well under a second.
const pbkdf2Iterations = 600_000

type encryptedPrivateKeyInfo struct {
	Algorithm     pbes2AlgorithmIdentifier
	EncryptedData []byte
}

type pbes2AlgorithmIdentifier struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters pbes2Params
}

type pbes2Params struct {
	KeyDerivationFunc pbkdf2AlgorithmIdentifier
	EncryptionScheme  aesAlgorithmIdentifier
}

type pbkdf2AlgorithmIdentifier struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters pbkdf2Params
}

type pbkdf2Params struct {
	Salt           []byte
	IterationCount int
	KeyLength      int `asn1:"optional"`
	PRF            prfAlgorithmIdentifier
}

type prfAlgorithmIdentifier struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue // NULL
}

type aesAlgorithmIdentifier struct {
	Algorithm asn1.ObjectIdentifier
	IV        []byte
}

// encryptPKCS8 encrypts a DER PKCS #8 PrivateKeyInfo with passphrase and
// returns it as an "ENCRYPTED PRIVATE KEY" PEM block.
func encryptPKCS8(der, passphrase []byte) ([]byte, error) {
	salt := make([]byte, 16)
	iv := make([]byte, aes.BlockSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(iv); err != nil {
		return nil, err
	}
	key, err := pbkdf2.Key(sha256.New, string(passphrase), salt, pbkdf2Iterations, 32)
	if err != nil {
		return nil, fmt.Errorf("derive key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	// PKCS #5 padding: always 1 to 16 bytes, each the pad length.
	pad := aes.BlockSize - len(der)%aes.BlockSize
	data := make([]byte, len(der)+pad)
	copy(data, der)
	for i := len(der); i < len(data); i++ {
		data[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(data, data)
	out, err := asn1.Marshal(encryptedPrivateKeyInfo{
		Algorithm: pbes2AlgorithmIdentifier{
			Algorithm: oidPBES2,
			Parameters: pbes2Params{
				KeyDerivationFunc: pbkdf2AlgorithmIdentifier{
					Algorithm: oidPBKDF2,
					Parameters: pbkdf2Params{Salt: salt, IterationCount: pbkdf2Iterations, KeyLength: 32,
						PRF: prfAlgorithmIdentifier{Algorithm: oidHMACWithSHA256, Parameters: asn1.NullRawValue}},
				},
				EncryptionScheme: aesAlgorithmIdentifier{Algorithm: oidAES256CBC, IV: iv},
			},
		},
		EncryptedData: data,
	})
	if err != nil {
		return nil, fmt.Errorf("encode encrypted key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: out}), nil
}
