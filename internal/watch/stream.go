package watch

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"k8s.io/client-go/rest"
)

// LeanStreams returns a copy of cfg whose watch streams carry no
// metadata.managedFields: the operator never reads them (Lean drops them
// from the cache), yet they are about half of an evaluated account's
// bytes, and client-go's watch decoding goes over every byte of an event
// several times (the frame, the event envelope, the object's kind, the
// object). Dropping them from the stream, before any decoding, halves the
// manager's cost of an account event. Nothing else changes: an event
// whose object has no managedFields, or that is not the compact JSON
// event the API server writes, passes as it came, and Lean still drops
// what is left.
func LeanStreams(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return leanWatches{next: rt} })
	return cfg
}

// leanWatches is the round tripper of LeanStreams.
type leanWatches struct{ next http.RoundTripper }

func (l leanWatches) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(req)
	if err != nil || !isWatch(req) || !isJSON(resp) {
		return resp, err
	}
	resp.Body = &leanBody{body: resp.Body, r: bufio.NewReaderSize(resp.Body, 64<<10)}
	resp.ContentLength = -1
	resp.Header.Del("Content-Length")
	return resp, nil
}

// isWatch reports whether req asks for a watch stream.
func isWatch(req *http.Request) bool {
	if req.Method != http.MethodGet {
		return false
	}
	switch req.URL.Query().Get("watch") {
	case "true", "1":
		return true
	}
	return false
}

// isJSON reports whether resp is a successful JSON answer.
func isJSON(resp *http.Response) bool {
	if resp.StatusCode != http.StatusOK {
		return false
	}
	mediaType, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return err == nil && mediaType == "application/json"
}

// leanBody is a watch stream, a JSON event per line, read a line at a
// time with each event's object.metadata.managedFields dropped.
type leanBody struct {
	body io.ReadCloser
	r    *bufio.Reader
	// line is the last line read, out what is left of it to return.
	line, out []byte
	// err is the error that ended the stream, returned once out is empty.
	err error
}

func (b *leanBody) Read(p []byte) (int, error) {
	for len(b.out) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		b.line = b.line[:0]
		for {
			chunk, err := b.r.ReadSlice('\n')
			b.line = append(b.line, chunk...)
			if !errors.Is(err, bufio.ErrBufferFull) {
				b.err = err
				break
			}
		}
		b.out = DropManagedFields(b.line)
	}
	n := copy(p, b.out)
	b.out = b.out[n:]
	return n, nil
}

func (b *leanBody) Close() error { return b.body.Close() }

// DropManagedFields removes the member managedFields of object.metadata
// from event, a watch event in JSON ({"type":...,"object":{...}}), in
// place, and returns what is left. The event is read only up to the end of
// that member, and nothing but the member (with one comma) is ever
// removed: an event without it, or one that does not read as an event up
// to it, comes back unchanged.
func DropManagedFields(event []byte) []byte {
	object, _, ok := find(event, 0, "object")
	if !ok {
		return event
	}
	metadata, _, ok := find(event, object.value, "metadata")
	if !ok {
		return event
	}
	m, prevEnd, ok := find(event, metadata.value, "managedFields")
	if !ok {
		return event
	}
	end, ok := skipValue(event, m.value)
	if !ok || !json.Valid(event[m.value:end]) {
		// Removing only a well-formed value keeps a well-formed event
		// well-formed, and a malformed one malformed.
		return event
	}
	next := skipSpace(event, end)
	switch {
	case next >= len(event):
		return event
	case prevEnd >= 0 && (event[next] == ',' || event[next] == '}'):
		// ,"managedFields":[...]
		return append(event[:prevEnd], event[end:]...)
	case event[next] == ',' && skipSpace(event, next+1) < len(event) && event[skipSpace(event, next+1)] == '"':
		// "managedFields":[...],"..."
		return append(event[:m.start], event[next+1:]...)
	case event[next] == '}':
		// the only member
		return append(event[:m.start], event[end:]...)
	}
	return event
}

// member is a member of a JSON object: where it starts (its key's opening
// quote) and where its value starts.
type member struct{ start, value int }

// find returns the member name of the JSON object that starts at i (after
// white space), and where the value of the member before it ends, -1 when
// it is the first. It reads the object only up to that member's value,
// and reports false when the object has no such member or is not
// well-formed up to it.
func find(b []byte, i int, name string) (m member, prevEnd int, ok bool) {
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != '{' {
		return member{}, 0, false
	}
	prevEnd = -1
	i = skipSpace(b, i+1)
	for i < len(b) && b[i] == '"' {
		keyEnd, ok := skipString(b, i)
		if !ok {
			return member{}, 0, false
		}
		colon := skipSpace(b, keyEnd)
		if colon >= len(b) || b[colon] != ':' {
			return member{}, 0, false
		}
		m = member{start: i, value: skipSpace(b, colon+1)}
		if string(b[i+1:keyEnd-1]) == name {
			return m, prevEnd, true
		}
		end, ok := skipValue(b, m.value)
		if !ok {
			return member{}, 0, false
		}
		next := skipSpace(b, end)
		if next >= len(b) || b[next] != ',' {
			// The object's end, or not JSON.
			return member{}, 0, false
		}
		prevEnd, i = end, skipSpace(b, next+1)
	}
	return member{}, 0, false
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the JSON string that starts at i.
func skipString(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, true
		}
	}
	return 0, false
}

// skipValue returns the index just past the JSON value that starts at i.
// Objects and arrays are matched bracket for bracket, strings skipped
// whole; a number or a literal ends at the first byte that cannot be part
// of one. It does not validate what it skips: a well-formed value is
// skipped exactly.
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				end, ok := skipString(b, i)
				if !ok {
					return 0, false
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
		}
		return 0, false
	}
	start := i
	for i < len(b) && isScalarByte(b[i]) {
		i++
	}
	return i, i > start
}

// isScalarByte reports whether c can be part of a JSON number or literal.
func isScalarByte(c byte) bool {
	switch {
	case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c == '-', c == '+', c == '.', c == 'E':
		return true
	}
	return false
}
