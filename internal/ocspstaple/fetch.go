package ocspstaple

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ocsp"
)

// maxGETURL is the longest URL sent with GET; longer requests are POSTed
// (RFC 5019 section 5).
const maxGETURL = 255

// clockSkew is how far in the future a response's thisUpdate may be.
const clockSkew = 5 * time.Minute

// fetch asks the responder at responderURL about t and returns the verified
// response (DER) with its nextUpdate.
func (s *Stapler) fetch(ctx context.Context, t Target, responderURL string) (der []byte, nextUpdate time.Time, err error) {
	defer func() {
		// Parsing a responder's bytes must not take the process down.
		if p := recover(); p != nil {
			err = fmt.Errorf("ocspstaple: panic while fetching: %v", p)
		}
	}()
	// SHA-1 certificate IDs: the one hash every responder supports
	// (RFC 5019 section 2.1.1).
	reqDER, err := ocsp.CreateRequest(t.Leaf, t.Issuer, nil)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("ocspstaple: build the request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.fetchTimeout())
	defer cancel()
	if t.Lambda != "" {
		if der, err = s.cfg.Lambda(ctx, t.Lambda, reqDER); err != nil {
			return nil, time.Time{}, fmt.Errorf("ocspstaple: function %s: %w", t.Lambda, err)
		}
		return checked(der, t, s.now())
	}
	req, err := newRequest(ctx, responderURL, reqDER)
	if err != nil {
		return nil, time.Time{}, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("ocspstaple: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, time.Time{}, fmt.Errorf("ocspstaple: the responder answered HTTP %d", resp.StatusCode)
	}
	der, err = io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("ocspstaple: read the response: %w", err)
	}
	return checked(der, t, s.now())
}

// checked bounds and verifies a response, whoever answered it.
func checked(der []byte, t Target, now time.Time) ([]byte, time.Time, error) {
	if len(der) > MaxResponseSize {
		return nil, time.Time{}, fmt.Errorf("ocspstaple: the response is over %d bytes", MaxResponseSize)
	}
	parsed, err := verify(der, t, now)
	if err != nil {
		return nil, time.Time{}, err
	}
	return der, parsed.NextUpdate, nil
}

// newRequest builds a GET request (RFC 6960 appendix A.1) when the URL stays
// short, so HTTP caches in front of the responder work, and a POST
// otherwise.
func newRequest(ctx context.Context, responderURL string, der []byte) (*http.Request, error) {
	get := strings.TrimSuffix(responderURL, "/") + "/" + url.QueryEscape(base64.StdEncoding.EncodeToString(der))
	var (
		req *http.Request
		err error
	)
	if len(get) <= maxGETURL {
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, get, nil)
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, responderURL, bytes.NewReader(der))
		if err == nil {
			req.Header.Set("Content-Type", "application/ocsp-request")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ocspstaple: responder URL %q: %w", responderURL, err)
	}
	req.Header.Set("Accept", "application/ocsp-response")
	return req, nil
}

// verify parses a response about t and checks who signed it, its status and
// its validity at now (RFC 6960 section 3.2).
//
// Responses are matched to the leaf by serial number. With a signature by the
// issuer, or by a responder the issuer delegated to, that is enough: an
// issuer speaks only for its own serials. An authorized responder
// (Target.Responder) is trusted as configured, as AWS IoT trusts
// ocspAuthorizedResponderArn.
func verify(der []byte, t Target, now time.Time) (*ocsp.Response, error) {
	// With no issuer given, the parser checks only that an embedded
	// certificate signed the response; the signer is decided below.
	resp, err := ocsp.ParseResponseForCert(der, t.Leaf, nil)
	if err != nil {
		var re ocsp.ResponseError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("ocspstaple: the responder answered %q", re.Status.String())
		}
		return nil, fmt.Errorf("ocspstaple: the response does not parse: %w", err)
	}
	signer, err := responseSigner(resp, t, now)
	if err != nil {
		return nil, err
	}
	if err := signer.CheckSignature(resp.SignatureAlgorithm, resp.TBSResponseData, resp.Signature); err != nil {
		return nil, fmt.Errorf("ocspstaple: the response is not signed by %s: %w", signer.Subject, err)
	}
	switch resp.Status {
	case ocsp.Good, ocsp.Revoked:
	default:
		return nil, errors.New("ocspstaple: the responder does not know the certificate (status unknown)")
	}
	if resp.ThisUpdate.After(now.Add(clockSkew)) {
		return nil, fmt.Errorf("ocspstaple: the response's thisUpdate %v is in the future", resp.ThisUpdate)
	}
	if !resp.NextUpdate.IsZero() && !resp.NextUpdate.After(now) {
		return nil, fmt.Errorf("ocspstaple: the response expired at its nextUpdate %v", resp.NextUpdate)
	}
	return resp, nil
}

// responseSigner returns the certificate whose key must have signed resp.
func responseSigner(resp *ocsp.Response, t Target, now time.Time) (*x509.Certificate, error) {
	switch {
	case t.Responder != nil:
		if err := checkValidity(t.Responder, now); err != nil {
			return nil, fmt.Errorf("ocspstaple: the authorized responder certificate %w", err)
		}
		return t.Responder, nil
	case resp.Certificate == nil || resp.Certificate.Equal(t.Issuer):
		return t.Issuer, nil
	}
	// A delegated responder (RFC 6960 section 4.2.2.2): issued by the
	// issuer for OCSP signing.
	d := resp.Certificate
	if err := d.CheckSignatureFrom(t.Issuer); err != nil {
		return nil, fmt.Errorf("ocspstaple: the responder certificate %s is not issued by %s: %w", d.Subject, t.Issuer.Subject, err)
	}
	if !slices.Contains(d.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) {
		return nil, fmt.Errorf("ocspstaple: the responder certificate %s lacks the OCSP signing extended key usage", d.Subject)
	}
	if err := checkValidity(d, now); err != nil {
		return nil, fmt.Errorf("ocspstaple: the responder certificate %w", err)
	}
	return d, nil
}

func checkValidity(c *x509.Certificate, now time.Time) error {
	if now.Before(c.NotBefore) || now.After(c.NotAfter) {
		return fmt.Errorf("%s is not valid now (%v to %v)", c.Subject, c.NotBefore, c.NotAfter)
	}
	return nil
}
