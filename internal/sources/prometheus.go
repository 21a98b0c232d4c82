package sources

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/outbound"
	"customersuccess.dev/success-operator/internal/text"
)

// Concurrency bounds the per-account requests of templated queries and
// HTTP sources: enough to hide latency, few enough not to flood a source
// that serves one request per account.
const Concurrency = 8

// Prometheus pulls measures with PromQL instant queries.
type Prometheus struct {
	// endpoint is the query API: the source's URL + /api/v1/query.
	endpoint *url.URL
	client   *http.Client
	// maxSeries bounds the series of one answer (outbound.Options.MaxSeries).
	maxSeries int
	// SourceName is the plan's name for the source: the key of
	// spec.externalIDs that holds the account's label value.
	SourceName string
	// AccountLabel is the result label that identifies the account.
	AccountLabel string
}

// NewPrometheus returns a source querying the Prometheus API at rawURL
// through hc, a guarded client (package outbound): its answers are read as
// a stream and bounded by the client's Options.MaxSeries, not by its body
// limit.
func NewPrometheus(rawURL, sourceName, accountLabel string, hc *http.Client) (*Prometheus, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("invalid URL") // the parse error quotes the URL
	}
	// The query API's path, joined as client_golang's API client does.
	u.Path = path.Join(strings.TrimRight(u.Path, "/"), "/api/v1/query")
	u.RawPath = ""
	if hc == nil {
		hc = outbound.NewClient(outbound.Options{})
	}
	return &Prometheus{endpoint: u, client: hc, maxSeries: outbound.OptionsOf(hc).MaxSeries,
		SourceName: sourceName, AccountLabel: accountLabel}, nil
}

// Pull runs each measure's query.
func (p *Prometheus) Pull(ctx context.Context, measures []*csv1alpha1.Measure, targets []Target) map[string]map[string]Sample {
	out := make(map[string]map[string]Sample, len(measures))
	for _, m := range measures {
		out[m.Name] = p.pullMeasure(ctx, m, targets)
	}
	return out
}

// pullMeasure runs one vector query for every account, matching the
// result's account label against each account's externalIDs[source name]
// (or its name); a templated query ({{ ... }}) runs once per account
// instead.
func (p *Prometheus) pullMeasure(ctx context.Context, m *csv1alpha1.Measure, targets []Target) map[string]Sample {
	if strings.Contains(m.Query, "{{") {
		return p.pullEach(ctx, m, targets)
	}
	// Only the series of the targets are kept, whatever the answer's size.
	found := make(map[string]*match, len(targets))
	for _, t := range targets {
		found[p.accountID(t)] = &match{}
	}
	err := p.query(ctx, m.Query, func(id string, s Sample) {
		if f := found[id]; f != nil {
			f.series++
			f.sample = s
		}
	})
	if err != nil {
		return FailAll(targets, err.Error())
	}
	out := make(map[string]Sample, len(targets))
	for _, t := range targets {
		id := p.accountID(t)
		switch f := found[id]; f.series {
		case 0:
			out[t.Name] = Sample{Err: fmt.Sprintf("no series with %s=%q", p.AccountLabel, id)}
		case 1:
			out[t.Name] = f.sample
		default:
			out[t.Name] = Sample{Err: fmt.Sprintf("several series with %s=%q", p.AccountLabel, id)}
		}
	}
	return out
}

// match is what an answer held for one account id.
type match struct {
	series int
	sample Sample
}

// accountID is the label value that identifies the account.
func (p *Prometheus) accountID(t Target) string { return t.Key(p.SourceName) }

// pullEach runs a templated query per account with bounded concurrency.
func (p *Prometheus) pullEach(ctx context.Context, m *csv1alpha1.Measure, targets []Target) map[string]Sample {
	tp, err := parseTarget(m.Query)
	if err != nil {
		return FailAll(targets, err.Error())
	}
	return eachTarget(targets, Concurrency, func(t Target) Sample {
		q, err := execute(tp, t)
		if err != nil {
			return Sample{Err: err.Error()}
		}
		var m match
		err = p.query(ctx, q, func(_ string, s Sample) {
			if m.series++; m.series == 1 {
				m.sample = s
			}
		})
		switch {
		case err != nil:
			return Sample{Err: err.Error()}
		case m.series != 1:
			return Sample{Err: fmt.Sprintf("query returned %d series, want 1", m.series)}
		default:
			return m.sample
		}
	})
}

// query runs an instant query at the server's present and hands each
// series of its vector to visit, with the value of the account label; a
// scalar is one series without labels. The answer is read as a stream and
// forgotten series by series (decodeAnswer), so memory does not grow with
// its size. client_golang's API client reads a whole answer into memory
// before decoding it, so the request is made here, as that client makes
// it. The error is worded for a Sample: no URL, no body.
func (p *Prometheus) query(ctx context.Context, q string, visit func(id string, s Sample)) error {
	resp, err := p.send(ctx, q)
	if err != nil {
		return fmt.Errorf("query failed: %s", outbound.Describe(err))
	}
	defer func() { _ = resp.Body.Close() }()
	return p.answer(resp, visit)
}

// answer reads an answer and words its error for a Sample.
func (p *Prometheus) answer(resp *http.Response, visit func(id string, s Sample)) error {
	err := p.read(resp, visit)
	var ae answerError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ae):
		return ae
	default:
		return fmt.Errorf("query failed: %s", promError(err))
	}
}

// send posts the query as a form, and falls back to a GET with the same
// parameters when the server refuses a POST, as client_golang's API client
// does. The request goes through the guarded client, its body limit lifted:
// decodeAnswer bounds the answer by its series instead.
func (p *Prometheus) send(ctx context.Context, q string) (*http.Response, error) {
	ctx = outbound.WithoutBodyLimit(ctx)
	args := p.endpoint.Query()
	args.Set("query", q)
	form := args.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.endpoint.String(), strings.NewReader(form))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// An empty Idempotency-Key, never sent, lets the transport retry the
	// POST after a network error as it would a GET.
	req.Header["Idempotency-Key"] = nil
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusForbidden, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		_ = resp.Body.Close()
		u := *p.endpoint
		u.RawQuery = form
		if req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil); err != nil {
			return nil, err
		}
		return p.client.Do(req)
	}
	return resp, nil
}

// read decodes an answer by its HTTP status, with the client_golang API
// client's rules: a 400 or 422 carries Prometheus's errorType and error, a
// success may still say status "error", any other status is reported by
// its code alone.
func (p *Prometheus) read(resp *http.Response, visit func(id string, s Sample)) error {
	code := resp.StatusCode
	switch {
	case code/100 == 2:
		a, err := decodeAnswer(resp.Body, p.AccountLabel, p.maxSeries, visit)
		switch {
		case err != nil:
			return err
		case a.status == "error":
			return &promv1.Error{Type: promv1.ErrorType(a.errorType), Msg: a.errorMsg}
		default:
			return a.check(visit)
		}
	case code == http.StatusBadRequest || code == http.StatusUnprocessableEntity:
		a, err := decodeAnswer(resp.Body, "", p.maxSeries, nil)
		var pe *promv1.Error
		switch {
		case errors.As(err, &pe):
			return statusError(code) // not an API error: a proxy's page
		case err != nil:
			return err
		case a.status == "success":
			return badResponse("inconsistent body for response code")
		}
		e := &promv1.Error{Type: promv1.ErrorType(a.errorType), Msg: a.errorMsg}
		if e.Type == "" {
			e.Type = promv1.ErrClient
		}
		if e.Msg == "" {
			e.Msg = fmt.Sprintf("client error: %d", code)
		}
		return e
	default:
		return statusError(code)
	}
}

// statusError reports an HTTP status by its code, as the client_golang API
// client does ("server error: 502").
func statusError(code int) error {
	switch code / 100 {
	case 4:
		return &promv1.Error{Type: promv1.ErrClient, Msg: fmt.Sprintf("client error: %d", code)}
	case 5:
		return &promv1.Error{Type: promv1.ErrServer, Msg: fmt.Sprintf("server error: %d", code)}
	default:
		return badResponse(fmt.Sprintf("bad response code %d", code))
	}
}

// promError describes a client error without the URL or the body.
func promError(err error) string {
	var pe *promv1.Error
	if errors.As(err, &pe) {
		switch pe.Type {
		case promv1.ErrBadResponse:
			// Its message may quote the body.
			return "bad response"
		case promv1.ErrClient, promv1.ErrServer:
			if statusMessage.MatchString(pe.Msg) {
				return pe.Msg // "server error: 503"
			}
			return string(pe.Type) // the text is a body or a transport error
		case promv1.ErrBadData, promv1.ErrExec, promv1.ErrCanceled, promv1.ErrTimeout:
			// Prometheus's own error text (a PromQL parse error, say)
			// says what is wrong with the query.
			return string(pe.Type) + ": " + text.Truncate(pe.Msg, 200)
		default:
			// An error type no Prometheus sends: the server's text is not
			// to be trusted.
			return "error"
		}
	}
	return outbound.Describe(err)
}

// statusMessage is how the Prometheus client reports an HTTP status.
var statusMessage = regexp.MustCompile(`^(client|server) error: \d{3}$`)
