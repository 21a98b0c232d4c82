package actions

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
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
	// Contacts are the account's contacts that match the action's
	// audience, when it has one (see Recipients). Personal data: they go
	// to the webhook only.
	Contacts []Contact `json:"contacts,omitempty"`
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

// Headers of a delivery. The webhook-* headers follow the Standard
// Webhooks specification (https://www.standardwebhooks.com), so receivers
// verify deliveries with its libraries.
const (
	// HeaderIdempotencyKey carries Payload.Key; receivers deduplicate by it.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderID is the Standard Webhooks message id: the idempotency key,
	// the same on every attempt of one action.
	HeaderID = "webhook-id"
	// HeaderTimestamp is the Unix seconds of the attempt; it is signed.
	HeaderTimestamp = "webhook-timestamp"
	// HeaderSignature is "v1," + base64(HMAC-SHA256(secret,
	// id + "." + timestamp + "." + body)), sent when the webhook has a
	// secret. A receiver accepts a space-separated list of signatures.
	HeaderSignature = "webhook-signature"
)

// signatureVersion prefixes a Standard Webhooks HMAC-SHA256 signature.
const signatureVersion = "v1,"

// Tolerance is how far a delivery's timestamp may be from the receiver's
// clock before Verify rejects it as a replay, as the Standard Webhooks
// libraries do.
const Tolerance = 5 * time.Minute

// secretPrefix marks a Standard Webhooks secret string.
const secretPrefix = "whsec_"

// LibrarySecret returns the signing key as the Standard Webhooks libraries
// take it: "whsec_" + base64(key). The Secret's "key" holds the raw bytes.
func LibrarySecret(key []byte) string {
	return secretPrefix + base64.StdEncoding.EncodeToString(key)
}

// Sign returns the webhook-signature header value of a delivery: "v1,"
// and the base64 HMAC-SHA256 under secret of id, timestamp (Unix seconds)
// and body joined by dots.
func Sign(secret []byte, id string, timestamp int64, body []byte) string {
	return signatureVersion + base64.StdEncoding.EncodeToString(mac(secret, id, strconv.FormatInt(timestamp, 10), body))
}

// Verify reports whether a delivery's headers (webhook-id,
// webhook-timestamp, webhook-signature) sign body under secret: one of the
// space-separated v1 signatures matches, compared in constant time, and
// the timestamp is within Tolerance of now. An empty secret verifies
// nothing.
func Verify(secret []byte, h http.Header, body []byte, now time.Time) bool {
	if len(secret) == 0 {
		return false
	}
	id, ts := h.Get(HeaderID), h.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || id == "" {
		return false
	}
	if d := now.Sub(time.Unix(sec, 0)); d > Tolerance || d < -Tolerance {
		return false
	}
	want := mac(secret, id, ts, body)
	for _, s := range strings.Fields(h.Get(HeaderSignature)) {
		b64, ok := strings.CutPrefix(s, signatureVersion)
		if !ok {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(sig, want) {
			return true
		}
	}
	return false
}

// mac is the HMAC-SHA256 of the signed content id.timestamp.body.
func mac(secret []byte, id, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(id + "." + timestamp + "."))
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
// the Idempotency-Key, webhook-id and webhook-timestamp headers and, when
// secret is non-empty, the webhook-signature header. A 2xx answer is
// success; any other status is the error "HTTP <code>", and redirects are
// not followed. Transport errors are described by outbound.Describe.
// Errors never contain the URL, the secret or the response body.
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
	ts := time.Now().Unix()
	req.Header.Set(HeaderIdempotencyKey, p.Key)
	req.Header.Set(HeaderID, p.Key)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	if len(secret) > 0 {
		req.Header.Set(HeaderSignature, Sign(secret, p.Key, ts, body))
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
