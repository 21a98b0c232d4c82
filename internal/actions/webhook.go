package actions

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"customersuccess.dev/success-operator/internal/outbound"
)

// Payload is the JSON body of a webhook delivery.
type Payload struct {
	// Key is the idempotency key, also sent as the Idempotency-Key header.
	Key       string `json:"key"`
	Account   string `json:"account"`
	Namespace string `json:"namespace"`
	Plan      string `json:"plan"`
	Stage     string `json:"stage"`
	Action    string `json:"action"`
	// Health is the account's health when the action was sent, if known.
	Health *Health `json:"health,omitempty"`
	// At is when the action became due.
	At time.Time `json:"at"`
}

// Health is the account's health score and band.
type Health struct {
	Score int32  `json:"score"`
	Band  string `json:"band"`
}

// Key returns the idempotency key of one action of one stage visit: the
// first 32 hex characters of a SHA-256 over the account UID, the stage, the
// stage entry time in Unix seconds and the action name. Re-entering a stage
// later gives new keys; a retry or a restart gives the same key. Seconds,
// not nanoseconds: status stores times with second precision.
func Key(accountUID string, stage string, enteredAt time.Time, action string) string {
	h := sha256.New()
	// Each field is length-prefixed, so no two inputs share an encoding.
	for _, f := range []string{accountUID, stage, strconv.FormatInt(enteredAt.Unix(), 10), action} {
		fmt.Fprintf(h, "%d:%s;", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// Headers of a delivery.
const (
	// HeaderIdempotencyKey carries Payload.Key; receivers deduplicate by it.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderSignature is "sha256=" + hex(HMAC-SHA256(secret, body)), sent
	// when the webhook has a secret.
	HeaderSignature = "X-Success-Signature-256"
	// HeaderTimestamp is the Unix seconds of the attempt. It is not
	// signed: the signed body carries the key and the due time.
	HeaderTimestamp = "X-Success-Timestamp"
)

const signaturePrefix = "sha256="

// Sign returns the signature header value of body.
func Sign(secret, body []byte) string {
	return signaturePrefix + hex.EncodeToString(mac(secret, body))
}

// Verify reports whether header is a valid signature of body under secret,
// comparing in constant time. An empty secret verifies nothing.
func Verify(secret, body []byte, header string) bool {
	if len(secret) == 0 {
		return false
	}
	hexSig, ok := strings.CutPrefix(header, signaturePrefix)
	if !ok {
		return false
	}
	sig, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	return hmac.Equal(sig, mac(secret, body))
}

func mac(secret, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return m.Sum(nil)
}

// MaxAttempts is how many attempts a delivery gets before it is Failed.
const MaxAttempts = 5

// Backoff bounds.
const (
	firstBackoff = 5 * time.Second
	maxBackoff   = 5 * time.Minute
)

// Backoff returns the wait after the given number of failed attempts
// (1-based): 5s, 10s, 20s, 40s, ..., capped at 5m. It is deterministic (no
// jitter). Values below 1 are treated as 1.
func Backoff(failedAttempts int32) time.Duration {
	d := firstBackoff
	for i := int32(1); i < failedAttempts && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// maxDrain bounds how much of a response body is read before closing it,
// so the connection can be reused.
const maxDrain = 64 << 10

// Sender delivers webhooks.
type Sender struct {
	// Client is a guarded client from outbound.NewClient; nil means one
	// with the default guard options.
	Client *http.Client
}

var defaultClient = sync.OnceValue(func() *http.Client {
	return outbound.NewClient(outbound.Options{})
})

// Send makes one delivery attempt: a POST of the JSON payload to url with
// the Idempotency-Key and timestamp headers and, when secret is non-empty,
// the signature header. A 2xx answer is success; any other status is the
// error "HTTP <code>", and redirects are not followed. Transport errors are
// described by outbound.Describe. Errors never contain the URL, the secret
// or the response body.
func (s *Sender) Send(ctx context.Context, url string, secret []byte, p Payload) error {
	body, err := json.Marshal(p)
	if err != nil {
		return errors.New("encoding payload: " + err.Error())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		// The parse error quotes the URL.
		return errors.New("invalid webhook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderIdempotencyKey, p.Key)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(time.Now().Unix(), 10))
	if len(secret) > 0 {
		req.Header.Set(HeaderSignature, Sign(secret, body))
	}

	client := s.Client
	if client == nil {
		client = defaultClient()
	}
	// A shallow copy shares the guarded transport. A 301/302 would turn the
	// POST into a GET whose 2xx would count as a delivery: never follow.
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	resp, err := c.Do(req)
	if err != nil {
		return errors.New(outbound.Describe(err))
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}
