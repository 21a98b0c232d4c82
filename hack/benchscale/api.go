package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"k8s.io/client-go/rest"
)

// Paths of the kinds the benchmark reads, under the API server's URL.
const (
	accountsPath = "/apis/customersuccess.dev/v1alpha1/namespaces/%s/customeraccounts"
	plansPath    = "/apis/customersuccess.dev/v1alpha1/namespaces/%s/successplans"
	eventsPath   = "/apis/events.k8s.io/v1/namespaces/%s/events"
)

// pageSize is the limit of one list request: lists are read page by page,
// so that the benchmark's memory does not grow with the fleet.
const pageSize = 500

// rawAPI reads lists and watches as JSON streams, decoding only what the
// benchmark needs: its own decoding must stay cheap next to the manager's.
type rawAPI struct {
	host string
	hc   *http.Client
}

func newRawAPI(cfg *rest.Config) (*rawAPI, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	return &rawAPI{host: strings.TrimRight(cfg.Host, "/"), hc: hc}, nil
}

// errExpired is a list or watch from a resourceVersion the API server no
// longer has: list again.
var errExpired = errors.New("resource version expired")

// get sends a GET and returns the response, which the caller closes; a
// status other than 200 is an error.
func (a *rawAPI) get(ctx context.Context, path string, query url.Values) (*http.Response, error) {
	u := a.host + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusGone {
			return nil, errExpired
		}
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(body))
	}
	return resp, nil
}

// list reads every page of a list and calls item with each item's JSON; it
// returns the list's resourceVersion.
func (a *rawAPI) list(ctx context.Context, path string, item func(raw json.RawMessage) error) (string, error) {
	var cont, rv string
	for {
		q := url.Values{"limit": {fmt.Sprint(pageSize)}}
		if cont != "" {
			q.Set("continue", cont)
		}
		resp, err := a.get(ctx, path, q)
		if err != nil {
			return "", err
		}
		var page struct {
			Metadata struct {
				ResourceVersion string `json:"resourceVersion"`
				Continue        string `json:"continue"`
			} `json:"metadata"`
			Items []json.RawMessage `json:"items"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		_ = resp.Body.Close()
		if err != nil {
			return "", fmt.Errorf("decoding %s: %w", path, err)
		}
		if rv == "" {
			rv = page.Metadata.ResourceVersion
		}
		for _, raw := range page.Items {
			if err := item(raw); err != nil {
				return "", err
			}
		}
		if cont = page.Metadata.Continue; cont == "" {
			return rv, nil
		}
	}
}

// object is the part of a CustomerAccount or SuccessPlan (or, in a watch's
// ERROR event, a Status) that the benchmark reads.
type object struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name            string `json:"name"`
		ResourceVersion string `json:"resourceVersion"`
		Generation      int64  `json:"generation"`
	} `json:"metadata"`
	Status struct {
		ObservedGeneration int64            `json:"observedGeneration"`
		Stage              string           `json:"stage"`
		Accounts           int32            `json:"accounts"`
		Bands              map[string]int32 `json:"bands"`
		Health             *struct {
			PlanGeneration int64 `json:"planGeneration"`
			Measures       []struct {
				Name  string `json:"name"`
				Value string `json:"value"`
			} `json:"measures"`
		} `json:"health"`
	} `json:"status"`
}

// watchEvent is one event of a watch stream.
type watchEvent struct {
	Type   string `json:"type"`
	Object object `json:"object"`
}

// watch streams the changes after resourceVersion rv to fn until the
// server ends the stream or ctx is done, and returns the last
// resourceVersion seen.
func (a *rawAPI) watch(ctx context.Context, path, rv string, fn func(watchEvent)) (string, error) {
	q := url.Values{"watch": {"1"}, "resourceVersion": {rv}, "allowWatchBookmarks": {"true"}, "timeoutSeconds": {"1800"}}
	resp, err := a.get(ctx, path, q)
	if err != nil {
		return rv, err
	}
	defer func() { _ = resp.Body.Close() }()
	dec := json.NewDecoder(resp.Body)
	for {
		// The object is read once the type is known: an ERROR event
		// carries a Status, whose status is a string.
		var raw struct {
			Type   string          `json:"type"`
			Object json.RawMessage `json:"object"`
		}
		if err := dec.Decode(&raw); err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return rv, nil
			}
			return rv, err
		}
		if raw.Type == "ERROR" {
			var status struct {
				Code int `json:"code"`
			}
			if err := json.Unmarshal(raw.Object, &status); err != nil {
				return rv, err
			}
			if status.Code == http.StatusGone {
				return rv, errExpired
			}
			return rv, fmt.Errorf("watch %s: error event, code %d", path, status.Code)
		}
		ev := watchEvent{Type: raw.Type}
		if err := json.Unmarshal(raw.Object, &ev.Object); err != nil {
			return rv, err
		}
		rv = ev.Object.Metadata.ResourceVersion
		if ev.Type != "BOOKMARK" {
			fn(ev)
		}
	}
}
