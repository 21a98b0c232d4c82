package actions

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
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
	rc.mu.Unlock()
	if sig := r.Header.Get(HeaderSignature); sig != "" && !Verify(testSecret, body, sig) {
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
			if k := h.Get(HeaderIdempotencyKey); k != p.Key {
				t.Errorf("%s = %q, want %q", HeaderIdempotencyKey, k, p.Key)
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
				g.Health == nil || *g.Health != *p.Health {
				t.Errorf("receiver decoded %+v, want %+v", g, p)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"key":"abc","action":"welcome"}`)
	sig := Sign(testSecret, body)
	cases := []struct {
		name   string
		secret []byte
		body   []byte
		header string
		want   bool
	}{
		{"the signature of the body verifies", testSecret, body, sig, true},
		{"the signature of a tampered body fails", testSecret, []byte(`{"key":"abd","action":"welcome"}`), sig, false},
		{"another secret fails", []byte("other"), body, sig, false},
		{"an empty secret verifies nothing", nil, body, Sign(nil, body), false},
		{"a header without the prefix fails", testSecret, body, strings.TrimPrefix(sig, "sha256="), false},
		{"a header that is not hex fails", testSecret, body, "sha256=zz", false},
		{"a truncated signature fails", testSecret, body, sig[:len(sig)-2], false},
		{"an empty header fails", testSecret, body, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Verify(tc.secret, tc.body, tc.header); got != tc.want {
				t.Errorf("Verify = %v, want %v", got, tc.want)
			}
		})
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
	f.Add([]byte("k"), body, Sign([]byte("k"), body))
	f.Add([]byte(""), []byte(""), "")
	f.Add([]byte("k"), body, "sha256=")
	f.Add([]byte("k"), body, "sha256=zz")
	f.Add([]byte("k"), body, "sha256="+strings.Repeat("0", 1000))
	f.Fuzz(func(t *testing.T, secret, body []byte, header string) {
		_ = Verify(secret, body, header) // must not panic
		if len(secret) > 0 && !Verify(secret, body, Sign(secret, body)) {
			t.Errorf("Verify rejects Sign's own signature")
		}
	})
}
