package sources

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

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
	api promv1.API
	// SourceName is the plan's name for the source: the key of
	// spec.externalIDs that holds the account's label value.
	SourceName string
	// AccountLabel is the result label that identifies the account.
	AccountLabel string
}

// NewPrometheus returns a source querying the Prometheus API at url.
func NewPrometheus(url, sourceName, accountLabel string, hc *http.Client) (*Prometheus, error) {
	c, err := promapi.NewClient(promapi.Config{Address: url, Client: hc})
	if err != nil {
		return nil, errors.New("invalid URL") // the parse error quotes the URL
	}
	return &Prometheus{api: promv1.NewAPI(c), SourceName: sourceName, AccountLabel: accountLabel}, nil
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
	vec, err := p.query(ctx, m.Query)
	if err != nil {
		return FailAll(targets, err.Error())
	}
	byID := make(map[string]float64, len(vec))
	dup := map[string]bool{}
	for _, s := range vec {
		id := string(s.Metric[model.LabelName(p.AccountLabel)])
		if _, seen := byID[id]; seen {
			dup[id] = true
		}
		byID[id] = float64(s.Value)
	}
	out := make(map[string]Sample, len(targets))
	for _, t := range targets {
		id := p.accountID(t)
		v, ok := byID[id]
		switch {
		case dup[id]:
			out[t.Name] = Sample{Err: fmt.Sprintf("several series with %s=%q", p.AccountLabel, id)}
		case !ok:
			out[t.Name] = Sample{Err: fmt.Sprintf("no series with %s=%q", p.AccountLabel, id)}
		default:
			out[t.Name] = finite(v)
		}
	}
	return out
}

// accountID is the label value that identifies the account.
func (p *Prometheus) accountID(t Target) string {
	if id := t.ExternalIDs[p.SourceName]; id != "" {
		return id
	}
	return t.Name
}

// pullEach runs a templated query per account with bounded concurrency.
func (p *Prometheus) pullEach(ctx context.Context, m *csv1alpha1.Measure, targets []Target) map[string]Sample {
	tp, err := parseTarget(m.Query)
	if err != nil {
		return FailAll(targets, err.Error())
	}
	return eachTarget(targets, func(t Target) Sample {
		q, err := execute(tp, t)
		if err != nil {
			return Sample{Err: err.Error()}
		}
		vec, err := p.query(ctx, q)
		switch {
		case err != nil:
			return Sample{Err: err.Error()}
		case len(vec) != 1:
			return Sample{Err: fmt.Sprintf("query returned %d series, want 1", len(vec))}
		default:
			return finite(float64(vec[0].Value))
		}
	})
}

// query runs an instant query at the server's present and returns its
// vector; a scalar becomes a one-sample vector.
func (p *Prometheus) query(ctx context.Context, q string) (model.Vector, error) {
	v, _, _, err := p.api.Query(ctx, q, time.Time{})
	if err != nil {
		return nil, fmt.Errorf("query failed: %s", promError(err))
	}
	switch r := v.(type) {
	case model.Vector:
		return r, nil
	case *model.Scalar:
		return model.Vector{&model.Sample{Value: r.Value}}, nil
	case nil:
		return nil, errors.New("query returned no result")
	default:
		return nil, fmt.Errorf("query returned a %s, want a vector", v.Type())
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
