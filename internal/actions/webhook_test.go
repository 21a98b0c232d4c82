package actions

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"customersuccess.dev/success-operator/internal/outbound"
)

var testSecret = []byte("hook-key-s3cret")

// receiver is a webhook receiver as the package doc describes one: it
// verifies the signature and records the idempotency keys it accepted.
type receiver struct {
	mu       sync.Mutex
	keys     []string
	headers  []http.Header
	bodies   [][]byte
	payloads []Payload
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.headers = append(rc.headers, r.Header.Clone())
	rc.bodies = append(rc.bodies, body)
	rc.mu.Unlock()
	if sig := r.Header.Get(HeaderSignature); sig != "" && !Verify(testSecret, r.Header, body, time.Now()) {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var p Payload
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.keys = append(rc.keys, r.Header.Get(HeaderIdempotencyKey))
	rc.payloads = append(rc.payloads, p)
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) last() (http.Header, []string, []Payload) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var h http.Header
	if len(rc.headers) > 0 {
		h = rc.headers[len(rc.headers)-1]
	}
	return h, append([]string(nil), rc.keys...), append([]Payload(nil), rc.payloads...)
}

func testPayload() Payload {
	at := time.Date(2026, 3, 20, 9, 0, 0, 0, time.UTC)
	return Payload{
		Key:       Key("uid-1", "Onboarding", at, "welcome"),
		Account:   "acme",
		Namespace: "customers",
		Plan:      "smb",
		Stage:     "Onboarding",
		Action:    "welcome",
		Health:    &Health{Score: 72, Band: "Yellow"},
		At:        at,
		Contacts: []Contact{{Name: "Ada Lovelace", Email: "ada@acme.example", Role: "DecisionMaker"},
			{Name: "Bob Byte", Email: "bob@acme.example", Role: "User", Persona: "data-engineer"}},
	}
}

func TestSendDelivers(t *testing.T) {
	cases := []struct {
		name    string
		secret  []byte
		wantSig bool
	}{
		{"a delivery arrives with the right headers and a valid signature", testSecret, true},
		{"without a secret no signature header is sent", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := &receiver{}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			s := &Sender{Client: outbound.NewClient(outbound.Options{Timeout: 2 * time.Second})}
			p := testPayload()

			before := time.Now().Unix()
			if err := s.Send(context.Background(), srv.URL+"/hook", tc.secret, p); err != nil {
				t.Fatalf("Send: %v", err)
			}
			h, keys, got := rc.last()
			if ct := h.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			for _, name := range []string{HeaderIdempotencyKey, HeaderID} {
				if k := h.Get(name); k != p.Key {
					t.Errorf("%s = %q, want %q", name, k, p.Key)
				}
			}
			ts, err := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
			if err != nil || ts < before || ts > time.Now().Unix() {
				t.Errorf("%s = %q, not the attempt time", HeaderTimestamp, h.Get(HeaderTimestamp))
			}
			if sig := h.Get(HeaderSignature); (sig != "") != tc.wantSig {
				t.Errorf("%s = %q, want present: %v", HeaderSignature, sig, tc.wantSig)
			}
			if len(keys) != 1 || keys[0] != p.Key {
				t.Fatalf("receiver recorded keys %v, want [%s]", keys, p.Key)
			}
			if g := got[0]; g.Key != p.Key || g.Action != "welcome" || !g.At.Equal(p.At) ||
				g.Health == nil || *g.Health != *p.Health || !slices.Equal(g.Contacts, p.Contacts) {
				t.Errorf("receiver decoded %+v, want %+v", g, p)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"key":"abc","action":"welcome"}`)
	now := time.Date(2026, 3, 20, 9, 0, 0, 0, time.UTC)
	ts := now.Unix()
	sig := Sign(testSecret, "abc", ts, body)
	headers := func(id string, ts int64, sig string) http.Header {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
		h.Set(HeaderSignature, sig)
		return h
	}
	other := Sign([]byte("other"), "abc", ts, body)
	cases := []struct {
		name   string
		secret []byte
		body   []byte
		header http.Header
		want   bool
	}{
		{"the signature of the delivery verifies", testSecret, body, headers("abc", ts, sig), true},
		{"one of several signatures verifies", testSecret, body, headers("abc", ts, other+" v2,xyz "+sig), true},
		{"a timestamp within the tolerance verifies", testSecret, body,
			headers("abc", ts-60, Sign(testSecret, "abc", ts-60, body)), true},
		{"a tampered body fails", testSecret, []byte(`{"key":"abd","action":"welcome"}`), headers("abc", ts, sig), false},
		{"another id fails", testSecret, body, headers("abd", ts, sig), false},
		{"another timestamp fails", testSecret, body, headers("abc", ts+1, sig), false},
		{"another secret fails", []byte("other"), body, headers("abc", ts, sig), false},
		{"only signatures under other secrets fail", testSecret, body, headers("abc", ts, other), false},
		{"an empty secret verifies nothing", nil, body, headers("abc", ts, Sign(nil, "abc", ts, body)), false},
		{"a signature without the version fails", testSecret, body, headers("abc", ts, strings.TrimPrefix(sig, "v1,")), false},
		{"another version fails", testSecret, body, headers("abc", ts, "v1a,"+strings.TrimPrefix(sig, "v1,")), false},
		{"a signature that is not base64 fails", testSecret, body, headers("abc", ts, "v1,!!"), false},
		{"a truncated signature fails", testSecret, body, headers("abc", ts, sig[:len(sig)-4]), false},
		{"an empty signature fails", testSecret, body, headers("abc", ts, ""), false},
		{"an old timestamp is a replay", testSecret, body,
			headers("abc", ts-int64(Tolerance/time.Second)-1, Sign(testSecret, "abc", ts-int64(Tolerance/time.Second)-1, body)), false},
		{"a future timestamp fails", testSecret, body,
			headers("abc", ts+int64(Tolerance/time.Second)+1, Sign(testSecret, "abc", ts+int64(Tolerance/time.Second)+1, body)), false},
		{"a missing id fails", testSecret, body, headers("", ts, Sign(testSecret, "", ts, body)), false},
		{"a timestamp that is not a number fails", testSecret, body, http.Header{
			"Webhook-Id": {"abc"}, "Webhook-Timestamp": {"soon"}, "Webhook-Signature": {sig}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Verify(tc.secret, tc.header, tc.body, now); got != tc.want {
				t.Errorf("Verify = %v, want %v", got, tc.want)
			}
		})
	}
}

// The example the Standard Webhooks specification publishes, which its
// libraries test against.
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = "1614265330"
	specBody      = `{"test": 2432232314}`
	specSig       = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

// specVerify is the specification's verification, written out here
// rather than calling the package: the secret is "whsec_" + base64(key);
// the signed content is "<webhook-id>.<webhook-timestamp>.<body>"; the
// header is a space-separated list of "<version>,<base64 signature>", of
// which one "v1" must equal base64(HMAC-SHA256(key, content)); the
// timestamp must be within five minutes of now.
func specVerify(whsec string, h http.Header, body []byte, now time.Time) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(whsec, "whsec_"))
	if err != nil {
		return err
	}
	msgID, msgTS := h.Get("webhook-id"), h.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(msgTS, 10, 64)
	if err != nil {
		return err
	}
	if math.Abs(now.Sub(time.Unix(sec, 0)).Seconds()) > 5*60 {
		return errors.New("timestamp outside the tolerance")
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msgID + "." + msgTS + "." + string(body)))
	expected := base64.StdEncoding.EncodeToString(m.Sum(nil))
	for _, versioned := range strings.Split(h.Get("webhook-signature"), " ") {
		version, sig, ok := strings.Cut(versioned, ",")
		if ok && version == "v1" && hmac.Equal([]byte(sig), []byte(expected)) {
			return nil
		}
	}
	return errors.New("no matching signature")
}

// TestADeliveryVerifiesWithTheStandardWebhooksAlgorithm checks a real
// delivery as a receiver using a Standard Webhooks library would: with the
// specification's algorithm (specVerify, itself checked against the
// specification's published example) and the key given as the libraries
// take it, LibrarySecret(key).
func TestADeliveryVerifiesWithTheStandardWebhooksAlgorithm(t *testing.T) {
	specHeaders := http.Header{}
	specHeaders.Set("webhook-id", specID)
	specHeaders.Set("webhook-timestamp", specTimestamp)
	specHeaders.Set("webhook-signature", specSig)
	specNow := time.Unix(1614265330, 0)
	if err := specVerify(specSecret, specHeaders, []byte(specBody), specNow); err != nil {
		t.Fatalf("the test's verifier rejects the specification's example: %v", err)
	}

	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	s := &Sender{Client: outbound.NewClient(outbound.Options{Timeout: 2 * time.Second})}
	p := testPayload()
	if err := s.Send(context.Background(), srv.URL, testSecret, p); err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	h, body := rc.headers[0], rc.bodies[0]
	rc.mu.Unlock()

	whsec := LibrarySecret(testSecret)
	if whsec != "whsec_aG9vay1rZXktczNjcmV0" {
		t.Errorf("LibrarySecret = %q, want whsec_ + base64 of the key", whsec)
	}
	if got := h.Get("webhook-id"); got != p.Key {
		t.Errorf("webhook-id = %q, want the idempotency key %q", got, p.Key)
	}
	if err := specVerify(whsec, h, body, time.Now()); err != nil {
		t.Errorf("the delivery does not verify: %v (headers %v)", err, h)
	}
	tampered := append([]byte(nil), body...)
	tampered[len(tampered)-2] ^= 1
	if err := specVerify(whsec, h, tampered, time.Now()); err == nil {
		t.Error("a tampered delivery verifies")
	}

	// The package signs and verifies the published example the same way.
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(specSecret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	if got := Sign(key, specID, 1614265330, []byte(specBody)); got != specSig {
		t.Errorf("Sign of the specification's example = %s, want %s", got, specSig)
	}
	if !Verify(key, specHeaders, []byte(specBody), specNow) {
		t.Error("Verify rejects the specification's example")
	}
}

func TestPayloadOmitsContactsWithoutAudience(t *testing.T) {
	p := testPayload()
	p.Contacts = nil
	body, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), "contacts") {
		t.Errorf("payload without contacts has a contacts field: %s", body)
	}
}

func TestSendFails(t *testing.T) {
	const secretBody = "internal detail: db password hunter2"
	mux := http.NewServeMux()
	mux.HandleFunc("/500", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, secretBody, http.StatusInternalServerError)
	})
	mux.HandleFunc("/404", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, secretBody, http.StatusNotFound)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		// Reading the body lets the server notice the client hanging up.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusOK)
	})
	var followed sync.Mutex
	var followedCount int
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, _ *http.Request) {
		followed.Lock()
		followedCount++
		followed.Unlock()
		w.WriteHeader(http.StatusOK)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	s := &Sender{Client: outbound.NewClient(outbound.Options{Timeout: 300 * time.Millisecond})}
	cases := []struct {
		name, path, want string
	}{
		{"a 500 answer is the error HTTP 500", "/500", "HTTP 500"},
		{"a 404 answer is the error HTTP 404", "/404", "HTTP 404"},
		{"a slow receiver times out", "/slow", "request timed out"},
		{"a redirect is not followed and is an error", "/redirect", "HTTP 302"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Send(context.Background(), srv.URL+tc.path, testSecret, testPayload())
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			msg := err.Error()
			if msg != tc.want {
				t.Errorf("error = %q, want %q", msg, tc.want)
			}
			for _, leak := range []string{srv.URL, strings.TrimPrefix(srv.URL, "http://"), secretBody, "hunter2", string(testSecret)} {
				if strings.Contains(msg, leak) {
					t.Errorf("error %q contains %q", msg, leak)
				}
			}
		})
	}
	followed.Lock()
	defer followed.Unlock()
	if followedCount != 0 {
		t.Errorf("the redirect was followed %d times", followedCount)
	}

	t.Run("an invalid URL is an error that does not quote it", func(t *testing.T) {
		err := s.Send(context.Background(), "http://bad host/?token=abc", testSecret, testPayload())
		if err == nil || strings.Contains(err.Error(), "token=abc") {
			t.Errorf("error = %v", err)
		}
	})
}

func TestKey(t *testing.T) {
	entered := time.Date(2026, 3, 20, 9, 0, 0, 0, time.UTC)
	base := Key("uid-1", "Onboarding", entered, "welcome")
	if len(base) != 32 {
		t.Fatalf("Key has %d characters, want 32", len(base))
	}
	cases := []struct {
		name      string
		uid       string
		stage     string
		entered   time.Time
		action    string
		wantEqual bool
	}{
		{"the same inputs give the same key", "uid-1", "Onboarding", entered, "welcome", true},
		{"the same instant in another zone gives the same key", "uid-1", "Onboarding", entered.In(time.FixedZone("CET", 3600)), "welcome", true},
		{"sub-second precision lost in status gives the same key", "uid-1", "Onboarding", entered.Add(400 * time.Millisecond), "welcome", true},
		{"another stage entry time gives another key", "uid-1", "Onboarding", entered.Add(time.Second), "welcome", false},
		{"another stage gives another key", "uid-1", "Adoption", entered, "welcome", false},
		{"another action gives another key", "uid-1", "Onboarding", entered, "training-invite", false},
		{"another account gives another key", "uid-2", "Onboarding", entered, "welcome", false},
		{"moving characters between fields gives another key", "uid-1O", "nboarding", entered, "welcome", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Key(tc.uid, tc.stage, tc.entered, tc.action)
			if (got == base) != tc.wantEqual {
				t.Errorf("Key = %s, base %s, want equal: %v", got, base, tc.wantEqual)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	cases := []struct {
		name   string
		failed int32
		want   time.Duration
	}{
		{"zero failures waits like one", 0, 5 * time.Second},
		{"after the first failure wait 5s", 1, 5 * time.Second},
		{"after the second failure wait 10s", 2, 10 * time.Second},
		{"after the third failure wait 20s", 3, 20 * time.Second},
		{"after the fourth failure wait 40s", 4, 40 * time.Second},
		{"after the fifth failure wait 80s", 5, 80 * time.Second},
		{"after the sixth failure wait 160s", 6, 160 * time.Second},
		{"after the seventh failure the wait is capped at 5m", 7, 5 * time.Minute},
		{"a huge count stays capped at 5m", 1 << 30, 5 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Backoff(tc.failed); got != tc.want {
				t.Errorf("Backoff(%d) = %v, want %v", tc.failed, got, tc.want)
			}
		})
	}
}

func FuzzVerify(f *testing.F) {
	body := []byte(`{"key":"abc"}`)
	f.Add([]byte("k"), body, "abc", int64(1774000000), Sign([]byte("k"), "abc", 1774000000, body))
	f.Add([]byte(""), []byte(""), "", int64(0), "")
	f.Add([]byte("k"), body, "abc", int64(1774000000), "v1,")
	f.Add([]byte("k"), body, "abc", int64(1774000000), "v1,zz v1, ,,")
	f.Add([]byte("k"), body, "abc", int64(1774000000), "v1,"+strings.Repeat("A", 1000))
	f.Fuzz(func(t *testing.T, secret, body []byte, id string, ts int64, sig string) {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
		h.Set(HeaderSignature, sig)
		now := time.Unix(ts, 0)
		_ = Verify(secret, h, body, now) // must not panic
		h.Set(HeaderSignature, Sign(secret, id, ts, body))
		// A header value cannot hold every id; the header carries what
		// was set.
		if len(secret) > 0 && h.Get(HeaderID) == id && id != "" && !Verify(secret, h, body, now) {
			t.Errorf("Verify rejects Sign's own signature")
		}
	})
}
