package sources

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// maxValueBytes bounds what the decoder reads for one step: an envelope
// key or value, or one series of the result. It bounds the decoder's
// buffer, so that an answer of any length is decoded in constant memory
// (plus the kept samples); a series is some 100 bytes.
const maxValueBytes = 1 << 20

// answerError is an error worded for a Sample as it is: Prometheus
// answered, but not with what a measure needs.
type answerError string

func (e answerError) Error() string { return string(e) }

var (
	// errValueTooLarge is read from the body when one step needs more than
	// maxValueBytes.
	errValueTooLarge = answerError("query returned a series or value larger than 1 MiB")
	errNoResult      = answerError("query returned no result")
)

// tooManySeries is the error of an answer past the series limit.
func tooManySeries(limit int) error {
	return answerError(fmt.Sprintf("query returned more than %d series, the limit (--source-max-series)", limit))
}

// badResponse is an answer that is not what the query API sends; its
// message stays internal (promError reports "bad response").
func badResponse(msg string) error {
	return &promv1.Error{Type: promv1.ErrBadResponse, Msg: msg}
}

// The result types of the query API.
const (
	typeVector = "vector"
	typeScalar = "scalar"
	typeMatrix = "matrix"
	typeString = "string"
)

// resultShape is what the elements of data.result look like; zero when
// there is none (an empty or null result).
type resultShape int

const (
	// shapeSeries: objects, the series of a vector or a matrix.
	shapeSeries resultShape = iota + 1
	// shapePair: [time, value], a scalar or a string.
	shapePair
)

// answer is what the decoder keeps of a query API answer: its envelope and
// the type of its result. The series themselves went to the visitor as
// they were read.
type answer struct {
	status, errorType, errorMsg string
	// hasData: data was an object; hasResult: it held a result.
	hasData, hasResult bool
	resultType         string
	shape              resultShape
	// pairValue is the value of a scalar or string: the result's second
	// element.
	pairValue json.RawMessage
	// valueless: a series had neither value nor histogram before
	// resultType told whether the result is a vector (then the answer is
	// malformed) or a matrix (then it is the wrong type).
	valueless bool
	// series counts the result's series.
	series int
}

// check returns the error of a success answer whose result is not a
// vector, or a scalar; a scalar's value goes to visit as one series
// without labels, as a one-sample vector would.
func (a *answer) check(visit func(id string, s Sample)) error {
	if !a.hasData {
		return errNoResult
	}
	switch a.resultType {
	case typeVector:
		if !a.hasResult || a.shape == shapePair || a.valueless {
			return badResponse("malformed vector")
		}
		return nil
	case typeScalar:
		var v model.SampleValue
		if a.shape != shapePair || v.UnmarshalJSON(a.pairValue) != nil {
			return badResponse("malformed scalar")
		}
		if visit != nil {
			visit("", finite(float64(v)))
		}
		return nil
	default:
		return a.typeError()
	}
}

// typeError is the error of a result that is neither a vector nor a
// scalar.
func (a *answer) typeError() error {
	switch a.resultType {
	case typeMatrix, typeString:
		return answerError(fmt.Sprintf("query returned a %s, want a vector", a.resultType))
	default:
		return badResponse(fmt.Sprintf("unexpected result type %q", a.resultType))
	}
}

// wireSeries is one series of a vector, decoded in place: its map and
// buffers are reused from one series to the next.
type wireSeries struct {
	Metric    map[string]string  `json:"metric"`
	Value     [2]json.RawMessage `json:"value"`
	Histogram json.RawMessage    `json:"histogram"`
}

// reset empties the series, keeping its storage.
func (s *wireSeries) reset() {
	clear(s.Metric)
	s.Value[0], s.Value[1] = s.Value[0][:0], s.Value[1][:0]
	s.Histogram = s.Histogram[:0]
}

// sample reads the series' value as a Sample: NaN and infinities, and a
// native histogram, are errors of the account that owns the series. ok is
// false when the series has neither a value nor a histogram; err, when
// its value is not a float in a string, as the query API writes it.
func (s *wireSeries) sample() (_ Sample, ok bool, err error) {
	switch {
	case len(s.Value[1]) > 0:
		var v model.SampleValue
		if err := v.UnmarshalJSON(s.Value[1]); err != nil {
			return Sample{}, false, badResponse(err.Error())
		}
		return finite(float64(v)), true, nil
	case len(s.Histogram) > 0 && string(s.Histogram) != "null":
		return Sample{Err: "series is a native histogram, not a number"}, true, nil
	default:
		return Sample{}, false, nil
	}
}

// wireReader is the body as the decoder reads it: it refuses to read more
// than left bytes (set before every step) and remembers a transport
// error, which is then reported as such rather than as bad JSON.
type wireReader struct {
	r    io.Reader
	left int
	// read counts the bytes read.
	read int64
	err  error
}

func (w *wireReader) Read(p []byte) (int, error) {
	if w.left <= 0 {
		return 0, errValueTooLarge
	}
	if len(p) > w.left {
		p = p[:w.left]
	}
	n, err := w.r.Read(p)
	w.left -= n
	w.read += int64(n)
	if err != nil && err != io.EOF && w.err == nil {
		w.err = err
	}
	return n, err
}

// answerDecoder reads a /api/v1/query answer as a stream of JSON tokens
// and decodes each series of the result on its own, so that memory does
// not grow with the answer: a series is handed to visit, with the value of
// its account label, and forgotten.
type answerDecoder struct {
	dec  *json.Decoder
	body *wireReader
	// label is the account label; maxSeries bounds the result.
	label     string
	maxSeries int
	// visit receives each series of a vector; nil drops them.
	visit func(id string, s Sample)

	a   answer
	s   wireSeries
	raw json.RawMessage
}

// decodeAnswer reads an answer of the query API from r. visit is called
// for each series of a vector result, in order, with the value of the
// label (empty when the series lacks it); the returned answer tells what
// the envelope said. The error is a transport error (reported as
// outbound.Describe words it), a *promv1.Error of type bad_response for
// anything that is not a query API answer, or an answerError (too many
// series, a value too large, a matrix).
func decodeAnswer(r io.Reader, label string, maxSeries int, visit func(id string, s Sample)) (*answer, error) {
	body := &wireReader{r: r}
	d := &answerDecoder{dec: json.NewDecoder(body), body: body, label: label, maxSeries: maxSeries, visit: visit}
	d.s.Metric = map[string]string{}
	if err := d.envelope(); err != nil {
		var ae answerError
		var pe *promv1.Error
		switch {
		case errors.As(err, &ae), errors.As(err, &pe):
			return nil, err
		case d.body.err != nil:
			return nil, d.body.err
		default:
			// A syntax error, or a value of the wrong JSON type.
			return nil, badResponse(err.Error())
		}
	}
	return &d.a, nil
}

// envelope reads {"status", "data", "errorType", "error", ...}, in any
// order; other keys (warnings, infos) are skipped.
func (d *answerDecoder) envelope() error {
	if err := d.delim('{'); err != nil {
		return err
	}
	for d.more() {
		key, err := d.key()
		if err != nil {
			return err
		}
		switch key {
		case "status":
			err = d.str(&d.a.status)
		case "errorType":
			err = d.str(&d.a.errorType)
		case "error":
			err = d.str(&d.a.errorMsg)
		case "data":
			err = d.data()
		default:
			err = d.skip()
		}
		if err != nil {
			return err
		}
	}
	if err := d.delim('}'); err != nil {
		return err
	}
	if _, err := d.token(); err != io.EOF {
		return badResponse("data after the answer")
	}
	return nil
}

// data reads {"resultType", "result"}, in any order, or null.
func (d *answerDecoder) data() error {
	t, err := d.token()
	switch {
	case err != nil:
		return err
	case t == nil:
		return nil
	case t != json.Delim('{') || d.a.hasData:
		return badResponse("data is not one object")
	}
	d.a.hasData = true
	for d.more() {
		key, err := d.key()
		if err != nil {
			return err
		}
		switch key {
		case "resultType":
			err = d.str(&d.a.resultType)
		case "result":
			err = d.result()
		default:
			err = d.skip()
		}
		if err != nil {
			return err
		}
	}
	return d.delim('}')
}

// result reads the result array. Its first element tells a vector's series
// (objects) from a scalar's [time, value], so that the result may come
// before or after its resultType; a result known not to be a vector or a
// scalar is not read at all.
func (d *answerDecoder) result() error {
	if d.a.hasResult {
		return badResponse("two results")
	}
	d.a.hasResult = true
	if t := d.a.resultType; t != "" && t != typeVector && t != typeScalar {
		return d.a.typeError()
	}
	t, err := d.token()
	switch {
	case err != nil:
		return err
	case t == nil:
		return nil
	case t != json.Delim('['):
		return badResponse("result is not an array")
	case !d.more():
		return d.delim(']')
	}
	if err := d.decode(&d.raw); err != nil {
		return err
	}
	if d.raw[0] == '{' {
		return d.series()
	}
	return d.pair()
}

// series reads the series of a vector, the first of which is in d.raw,
// and hands each to visit.
func (d *answerDecoder) series() error {
	d.a.shape = shapeSeries
	for first := true; first || d.more(); first = false {
		if d.a.series >= d.maxSeries {
			return tooManySeries(d.maxSeries)
		}
		d.a.series++
		d.s.reset()
		var err error
		if first {
			err = json.Unmarshal(d.raw, &d.s)
		} else {
			err = d.decode(&d.s)
		}
		if err != nil {
			return err
		}
		s, ok, err := d.s.sample()
		switch {
		case err != nil:
			return err
		case !ok && d.a.resultType == "":
			d.a.valueless = true
		case !ok:
			return badResponse("series without a value")
		case d.visit != nil:
			d.visit(d.s.Metric[d.label], s)
		}
	}
	return d.delim(']')
}

// pair reads the rest of [time, value]; the time is in d.raw.
func (d *answerDecoder) pair() error {
	d.a.shape = shapePair
	if !d.more() {
		return badResponse("result without a value")
	}
	if err := d.decode(&d.a.pairValue); err != nil {
		return err
	}
	for d.more() {
		if err := d.skip(); err != nil {
			return err
		}
	}
	return d.delim(']')
}

// budget lets the next step read what, with the bytes the decoder holds
// unread, makes maxValueBytes: a value of that size is read whole, a
// larger one fails with errValueTooLarge.
func (d *answerDecoder) budget() {
	d.body.left = maxValueBytes - int(d.body.read-d.dec.InputOffset())
}

// token, decode and more are the decoder's, within a budget.
func (d *answerDecoder) token() (json.Token, error) {
	d.budget()
	return d.dec.Token()
}

func (d *answerDecoder) decode(v any) error {
	d.budget()
	return d.dec.Decode(v)
}

func (d *answerDecoder) more() bool {
	d.budget()
	return d.dec.More()
}

// delim reads the delimiter want.
func (d *answerDecoder) delim(want json.Delim) error {
	t, err := d.token()
	if err != nil {
		return err
	}
	if t != want {
		return badResponse(fmt.Sprintf("want %v", want))
	}
	return nil
}

// key reads an object key.
func (d *answerDecoder) key() (string, error) {
	t, err := d.token()
	if err != nil {
		return "", err
	}
	k, _ := t.(string)
	return k, nil
}

// str reads a string, or null as the empty string.
func (d *answerDecoder) str(into *string) error {
	t, err := d.token()
	if err != nil {
		return err
	}
	switch v := t.(type) {
	case string:
		*into = v
	case nil:
	default:
		return badResponse("want a string")
	}
	return nil
}

// skip reads past one value of any kind without keeping it.
func (d *answerDecoder) skip() error {
	depth := 0
	for {
		t, err := d.token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}
