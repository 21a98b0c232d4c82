package controllers

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	csv1alpha1 "customersuccess.dev/success-operator/api/v1alpha1"
	"customersuccess.dev/success-operator/internal/actions"
	"customersuccess.dev/success-operator/internal/health"
	"customersuccess.dev/success-operator/internal/lifecycle"
	"customersuccess.dev/success-operator/internal/outbound"
	"customersuccess.dev/success-operator/internal/text"
)

// Defaults of the dispatcher's bounds.
const (
	// DefaultDeliveryConcurrency is how many accounts the dispatcher serves
	// at once, so how many webhook requests are in flight at most: each
	// holds a connection and, when it ends, causes one status write.
	DefaultDeliveryConcurrency = 8
	// DefaultDeliveryPerHost is how many webhook requests are in flight to
	// one host at most: a receiver (a marketing-automation or ticketing
	// tool) is not flooded, and a slow one holds at most this many workers.
	DefaultDeliveryPerHost = 4
)

// minRetryDelay is the shortest wait before an account is served again for
// a retry: status times have second precision.
const minRetryDelay = time.Second

// Dispatcher is the delivery controller: it delivers the webhooks of the
// accounts' Pending actions, apart from the account reconcile, so that a
// slow receiver holds one of its workers, never a reconcile, and health
// evaluation never waits on a webhook. It is a controller-runtime
// controller over CustomerAccount (see SetupWithManager) that runs on the
// leader only.
//
// The account reconciler records each due action as a Pending entry with
// its idempotency key; the status write that stores it is the event that
// wakes the dispatcher, and a new leader finds every Pending entry in its
// first list. A pass (dispatch) reads the account from the API server and,
// for each Pending entry that is due, claims it with an optimistic lock
// (the resourceVersion read) immediately before its POST: the claim
// counts the attempt and stores it. A claim that conflicts reads the
// account again and claims only an entry that is still the same Pending
// attempt, so a replica that lost its lease while it held an old copy, or
// woke from a freeze, sends nothing that another replica claimed. The
// outcome is recorded the same way (see record). Retries and entries due
// later requeue the account for their due time. Nothing lists the fleet:
// the work of a pass is one account's.
type Dispatcher struct {
	// Client writes account status and reads plans (the informer cache).
	Client client.Client
	// Accounts reads accounts from the API server, never from a cache: a
	// cache may not have seen the dispatcher's last outcome yet, and an
	// entry it still shows Pending would be claimed in vain.
	Accounts client.Reader
	// Secrets reads webhook signing keys with a direct get.
	Secrets client.Reader
	// Sender delivers webhooks through the outbound guard.
	Sender *actions.Sender
	// Recorder records Events; nil records none.
	Recorder events.EventRecorder
	// Metrics observes delivery attempts; nil records none.
	Metrics Observer
	// Clock is the time source of due times and status timestamps.
	Clock clock.PassiveClock
	// Backoff overrides the retry backoff; nil means actions.Backoff.
	Backoff func(failedAttempts int32) time.Duration
	// Concurrency bounds the accounts served at once; PerHost the requests
	// in flight to one host (host and port of the webhook URL). Zero
	// means the defaults.
	Concurrency, PerHost int

	once  sync.Once
	hosts *hostLimiter
	// queue is the controller's queue, handed over when it starts (see
	// SetupWithManager); nil until then.
	queue workqueue.TypedRateLimitingInterface[reconcile.Request]
}

// +kubebuilder:rbac:groups=customersuccess.dev,resources=customeraccounts,verbs=get;list;watch
// +kubebuilder:rbac:groups=customersuccess.dev,resources=customeraccounts/status,verbs=patch
// +kubebuilder:rbac:groups=customersuccess.dev,resources=successplans,verbs=get
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// prepare sets the defaults and creates the host limiter.
func (d *Dispatcher) prepare() {
	d.once.Do(func() {
		if d.Concurrency <= 0 {
			d.Concurrency = DefaultDeliveryConcurrency
		}
		if d.PerHost <= 0 {
			d.PerHost = DefaultDeliveryPerHost
		}
		d.hosts = newHostLimiter(d.PerHost)
	})
}

// SetupWithManager registers the delivery controller: it watches the
// accounts that hold a Pending entry, and runs only while this replica
// leads (controllers need leader election by default). A pass in flight
// when the lease is lost ends; its outcome is not recorded, so the next
// leader retries the claimed attempt, under the same key, after its
// backoff.
func (d *Dispatcher) SetupWithManager(mgr ctrl.Manager) error {
	d.prepare()
	log := mgr.GetLogger().WithValues("controller", "delivery")
	return ctrl.NewControllerManagedBy(mgr).
		Named("delivery").
		For(&csv1alpha1.CustomerAccount{}, builder.WithPredicates(predicate.NewPredicateFuncs(holdsPending))).
		// An account that waits in a host's line is queued again when a
		// slot frees (wake).
		WatchesRawSource(source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
			d.queue = q
			return nil
		})).
		WithOptions(controller.Options{MaxConcurrentReconciles: d.Concurrency}).
		WithLogConstructor(func(req *reconcile.Request) logr.Logger {
			if req == nil {
				return log
			}
			return log.WithValues("namespace", req.Namespace, "name", req.Name)
		}).
		Complete(d)
}

// holdsPending says whether obj is an account with a Pending entry: the
// only accounts the delivery controller has work for.
func holdsPending(obj client.Object) bool {
	acct, ok := obj.(*csv1alpha1.CustomerAccount)
	return ok && slices.ContainsFunc(acct.Status.Actions, func(e csv1alpha1.ActionStatus) bool {
		return e.State == csv1alpha1.ActionPending
	})
}

// Reconcile makes one delivery pass over the account and requeues it for
// its next due entry.
func (d *Dispatcher) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	next, err := d.dispatch(ctx, req.NamespacedName)
	return ctrl.Result{RequeueAfter: next}, err
}

// wake queues an account a freed host slot serves; before the controller
// starts (tests drive dispatch directly) there is no queue.
func (d *Dispatcher) wake(key types.NamespacedName) {
	if d.queue != nil {
		d.queue.Add(reconcile.Request{NamespacedName: key})
	}
}

// dispatch makes one pass over the Pending entries of an account as
// stored: each due one is claimed and attempted (or is Skipped, when its
// audience matches no contact now, or Failed, when its action left the
// plan or its last attempt was claimed and never reported), and the
// outcomes are recorded, with their Events. An entry whose host is busy
// waits in the host's line, and its account is served again when a slot
// frees. It returns when the next entry is due, zero when none is. A
// suspended account, or one without a plan, keeps its entries Pending:
// they are served once it is evaluated again.
func (d *Dispatcher) dispatch(ctx context.Context, key types.NamespacedName) (time.Duration, error) {
	d.prepare()
	// A slot this account was woken for and did not take goes to the next
	// account in line, on every return.
	defer func() {
		for _, next := range d.hosts.finish(key) {
			d.wake(next)
		}
	}()
	acct := &csv1alpha1.CustomerAccount{}
	if err := d.Accounts.Get(ctx, key, acct); err != nil {
		return 0, client.IgnoreNotFound(err)
	}
	if acct.Spec.Suspend || acct.Status.Plan == "" {
		return 0, nil
	}
	plan := &csv1alpha1.SuccessPlan{}
	if err := d.Client.Get(ctx, types.NamespacedName{Namespace: key.Namespace, Name: acct.Status.Plan}, plan); err != nil {
		return 0, client.IgnoreNotFound(err)
	}
	now := d.Clock.Now()
	// decided are outcomes not stored yet: each write stores those
	// decided before it.
	var decided []*delivery
	for _, entryKey := range pendingKeys(acct.Status.Actions) {
		i := actionIndex(acct.Status.Actions, entryKey)
		if i < 0 || acct.Status.Actions[i].State != csv1alpha1.ActionPending {
			continue // changed by a write that conflicted with a claim
		}
		e := acct.Status.Actions[i]
		a, o := d.decide(acct, plan, e, now)
		if o != nil {
			decided = append(decided, o)
		}
		if a == nil {
			continue
		}
		host := hostOf(a.Webhook.URL)
		if !d.hosts.acquire(host, key) {
			continue
		}
		claim := &delivery{key: e.Key, attempts: e.Attempts, sent: true, state: csv1alpha1.ActionPending,
			message: fmt.Sprintf("attempt %d in flight", e.Attempts+1), at: *lifecycle.Stamp(now)}
		stored, recorded, err := d.record(ctx, key, acct, append(decided, claim))
		decided = nil
		if err != nil || stored == nil {
			d.release(host)
			return 0, err
		}
		acct = stored
		claimed := slices.Contains(recorded, claim)
		d.emit(recorded, acct)
		if !claimed {
			d.release(host)
			continue
		}
		err = d.send(ctx, acct, plan, &e, a)
		d.release(host)
		decided = append(decided, d.outcome(e, err, now))
	}
	stored, recorded, err := d.record(ctx, key, acct, decided)
	if err != nil || stored == nil {
		return 0, err
	}
	d.emit(recorded, stored)
	return d.retryAfter(stored, now), nil
}

// pendingKeys lists the keys of the Pending entries of list: a pass walks
// them by key, as a write may replace the list.
func pendingKeys(list []csv1alpha1.ActionStatus) []string {
	var keys []string
	for _, e := range list {
		if e.State == csv1alpha1.ActionPending {
			keys = append(keys, e.Key)
		}
	}
	return keys
}

// decide looks at one Pending entry now. It returns the action to attempt
// when the entry is due and reaches someone, or the outcome to record
// without an attempt; neither when the entry is not due yet.
func (d *Dispatcher) decide(acct *csv1alpha1.CustomerAccount, plan *csv1alpha1.SuccessPlan,
	e csv1alpha1.ActionStatus, now time.Time) (*csv1alpha1.Action, *delivery) {
	out := &delivery{key: e.Key, attempts: e.Attempts, at: *lifecycle.Stamp(now)}
	a := actionOf(plan, e.Stage, e.Name)
	switch {
	case a == nil || a.Webhook == nil:
		out.state, out.message = csv1alpha1.ActionFailed, "action no longer in the plan"
		return nil, out
	case now.Before(d.dueAt(e)):
		return nil, nil
	case e.Attempts >= actions.MaxAttempts:
		// The last attempt was claimed and its outcome never recorded
		// (its replica stopped or lost its lease during the attempt).
		out.state = csv1alpha1.ActionFailed
		out.message = fmt.Sprintf("no outcome recorded for attempt %d, the last", e.Attempts)
		out.event = &accountEvent{corev1.EventTypeWarning, csv1alpha1.ActionFailedReason, eventAction("Deliver", e.Name, e.Key),
			fmt.Sprintf("Action %s failed after %d attempts: %s", e.Name, e.Attempts, out.message)}
		return nil, out
	}
	// The contacts may have changed since the entry was recorded.
	if msg, ok := unreached(a, acct.Spec.Contacts); ok {
		out.state, out.reason, out.message = csv1alpha1.ActionSkipped, csv1alpha1.NoMatchingContactReason, msg
		out.event = skippedEvent(&e, msg)
		return nil, out
	}
	return a, nil
}

// outcome is the outcome of the claimed attempt of entry e (as it was
// before its claim), which ended with err.
func (d *Dispatcher) outcome(e csv1alpha1.ActionStatus, err error, now time.Time) *delivery {
	if d.Metrics != nil {
		d.Metrics.ObserveDelivery(err == nil)
	}
	attempts := e.Attempts + 1
	out := &delivery{key: e.Key, attempts: attempts, at: *lifecycle.Stamp(now)}
	switch {
	case err == nil:
		out.state = csv1alpha1.ActionDelivered
		out.event = &accountEvent{corev1.EventTypeNormal, csv1alpha1.ActionDeliveredReason, eventAction("Deliver", e.Name, e.Key),
			fmt.Sprintf("Action %s delivered (key %s)", e.Name, e.Key)}
	case attempts >= actions.MaxAttempts:
		out.state, out.message = csv1alpha1.ActionFailed, text.Truncate(err.Error(), 1024)
		out.event = &accountEvent{corev1.EventTypeWarning, csv1alpha1.ActionFailedReason, eventAction("Deliver", e.Name, e.Key),
			fmt.Sprintf("Action %s failed after %d attempts: %s", e.Name, attempts, out.message)}
	default:
		out.state, out.message = csv1alpha1.ActionPending, text.Truncate(err.Error(), 1024)
	}
	return out
}

// release frees a slot of host and wakes the account it serves next.
func (d *Dispatcher) release(host string) {
	if next, ok := d.hosts.release(host); ok {
		d.wake(next)
	}
}

// emit records the Events of the outcomes stored on acct.
func (d *Dispatcher) emit(recorded []*delivery, acct *csv1alpha1.CustomerAccount) {
	for _, o := range recorded {
		if o.event != nil {
			o.event.record(d.Recorder, acct)
		}
	}
}

// send reads the signing key and posts the payload of entry e.
func (d *Dispatcher) send(ctx context.Context, acct *csv1alpha1.CustomerAccount, plan *csv1alpha1.SuccessPlan,
	e *csv1alpha1.ActionStatus, a *csv1alpha1.Action) error {
	p := actions.Payload{Key: e.Key, Account: acct.Name, Namespace: acct.Namespace, Plan: plan.Name,
		Stage: e.Stage, Action: e.Name, At: timeOf(e.At), Contacts: actions.Recipients(a.Audience, acct.Spec.Contacts)}
	if h := acct.Status.Health; h != nil && h.Band != "" {
		p.Health = &actions.Health{Score: h.Score, Band: string(h.Band)}
	}
	var secret []byte
	if ref := a.Webhook.SecretRef; ref != nil {
		var err error
		if secret, err = outbound.SigningKey(ctx, d.Secrets, acct.Namespace, ref.Name); err != nil {
			return err
		}
	}
	return d.Sender.Send(ctx, a.Webhook.URL, secret, p)
}

// record stores the outcomes (and claims) on the account's entries with
// an optimistic lock (the resourceVersion read), so that it never
// overwrites a newer status. On a conflict it reads the account again from
// the API server and applies each outcome only to an entry that is still
// the same Pending attempt (same key, still Pending, the same attempt
// count): an outcome is recorded once, and never over an entry that
// changed meanwhile; a claim is never made on an entry another replica
// claimed. It returns the account as stored (nil when it is gone) and the
// outcomes recorded. An outcome that cannot be recorded is lost with its
// Event: the entry stays Pending, its attempt counted by its claim, and
// is attempted again under the same key after its backoff.
func (d *Dispatcher) record(ctx context.Context, key types.NamespacedName, acct *csv1alpha1.CustomerAccount,
	outcomes []*delivery) (*csv1alpha1.CustomerAccount, []*delivery, error) {
	if len(outcomes) == 0 {
		return acct, nil, nil
	}
	var recorded []*delivery
	reread := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if reread {
			acct = &csv1alpha1.CustomerAccount{}
			if err := d.Accounts.Get(ctx, key, acct); err != nil {
				return err
			}
		}
		reread = true
		patcher := newStatusPatcher(d.Client, acct)
		recorded = recorded[:0]
		for _, o := range outcomes {
			if o.applyTo(acct.Status.Actions) {
				recorded = append(recorded, o)
			}
		}
		if len(recorded) == 0 {
			return nil
		}
		return patcher.patch(ctx, acct)
	})
	if err != nil {
		return nil, nil, client.IgnoreNotFound(err)
	}
	return acct, recorded, nil
}

// retryAfter returns how long until the account's first retry is due; zero
// when none is. Entries due now are not counted: their account waits in a
// host's line, and a freed slot serves it.
func (d *Dispatcher) retryAfter(acct *csv1alpha1.CustomerAccount, now time.Time) time.Duration {
	var next time.Time
	for _, e := range acct.Status.Actions {
		if due := d.dueAt(e); e.State == csv1alpha1.ActionPending && due.After(now) {
			next = health.Earliest(next, due)
		}
	}
	if next.IsZero() {
		return 0
	}
	return max(next.Sub(now), minRetryDelay)
}

// dueAt is when the next attempt of entry e is due: when it was recorded,
// or the backoff after its last failed attempt.
func (d *Dispatcher) dueAt(e csv1alpha1.ActionStatus) time.Time {
	at := timeOf(e.At)
	if e.Attempts == 0 {
		return at
	}
	if d.Backoff != nil {
		return at.Add(d.Backoff(e.Attempts))
	}
	return at.Add(actions.Backoff(e.Attempts))
}

// delivery is what a pass records on one Pending entry: the claim of an
// attempt, or an outcome.
type delivery struct {
	// key and attempts identify the Pending attempt the outcome belongs to.
	key      string
	attempts int32
	// sent: a claim, which counts an attempt.
	sent            bool
	state           csv1alpha1.ActionState
	reason, message string
	at              metav1.Time
	// event is recorded once the outcome is stored; nil when none.
	event *accountEvent
}

// applyTo sets the outcome on its entry of list, and reports whether it
// did: only while the entry is the same Pending attempt.
func (o *delivery) applyTo(list []csv1alpha1.ActionStatus) bool {
	i := actionIndex(list, o.key)
	if i < 0 || list[i].State != csv1alpha1.ActionPending || list[i].Attempts != o.attempts {
		return false
	}
	e := &list[i]
	if o.sent {
		e.Attempts++
	}
	at := o.at
	e.State, e.Reason, e.Message, e.At = o.state, o.reason, o.message, &at
	return true
}

// accountEvent is an Event about an account, recorded only once the
// status it reports is stored: a write that fails (a conflict on a stale
// copy) records nothing, and the next evaluation derives it again.
type accountEvent struct {
	eventType, reason, action, note string
}

// skippedEvent is the Event of an entry skipped because its audience
// matches no contact; it names the audience, never a contact.
func skippedEvent(e *csv1alpha1.ActionStatus, why string) *accountEvent {
	return &accountEvent{corev1.EventTypeWarning, csv1alpha1.NoMatchingContactReason, eventAction("Skip", e.Name, e.Key),
		fmt.Sprintf("Action %s of stage %s skipped: %s (key %s)", e.Name, e.Stage, why, e.Key)}
}

// record records the Event about obj when rec is set.
func (ev *accountEvent) record(rec events.EventRecorder, obj runtime.Object) {
	if rec != nil {
		rec.Eventf(obj, nil, ev.eventType, ev.reason, ev.action, "%s", ev.note)
	}
}

// hostOf is the host (and port) a webhook URL reaches; empty for a URL
// that does not parse, which Send refuses.
func hostOf(webhookURL string) string {
	u, err := url.Parse(webhookURL)
	if err != nil {
		return ""
	}
	return u.Host
}

// hostLimiter bounds the requests in flight to each host. An account that
// finds its host busy waits in the host's line without holding a worker;
// each freed slot wakes the first account in line, and a woken account
// that does not take the slot passes it on (finish), so no slot is lost
// and a waiting account is served again exactly when it can be.
type hostLimiter struct {
	limit int

	mu   sync.Mutex
	busy map[string]int
	// line holds the accounts waiting for a host, in order; waiting
	// holds the same keys, to queue an account once.
	line    map[string][]types.NamespacedName
	waiting map[hostAccount]bool
	// woken are the accounts woken for a freed slot of a host, until they
	// try to take it.
	woken map[hostAccount]bool
}

// hostAccount is an account waiting for a host.
type hostAccount struct {
	host    string
	account types.NamespacedName
}

func newHostLimiter(limit int) *hostLimiter {
	return &hostLimiter{limit: limit, busy: map[string]int{}, line: map[string][]types.NamespacedName{},
		waiting: map[hostAccount]bool{}, woken: map[hostAccount]bool{}}
}

// acquire takes a slot of host for account and reports whether it did;
// when the host is busy the account joins its line.
func (h *hostLimiter) acquire(host string, account types.NamespacedName) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	ha := hostAccount{host, account}
	delete(h.woken, ha)
	if h.busy[host] < h.limit {
		h.busy[host]++
		// A place it held in the line is left there and skipped.
		delete(h.waiting, ha)
		return true
	}
	if !h.waiting[ha] {
		h.waiting[ha] = true
		h.line[host] = append(h.line[host], account)
	}
	return false
}

// release frees a slot of host and returns the account it wakes, if any.
func (h *hostLimiter) release(host string) (types.NamespacedName, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.busy[host]--; h.busy[host] <= 0 {
		delete(h.busy, host)
	}
	return h.wakeNext(host)
}

// finish ends a pass over account: each slot it was woken for and did not
// try to take wakes the next account in line. It returns those accounts.
func (h *hostLimiter) finish(account types.NamespacedName) []types.NamespacedName {
	h.mu.Lock()
	defer h.mu.Unlock()
	var wake []types.NamespacedName
	for ha := range h.woken {
		if ha.account != account {
			continue
		}
		delete(h.woken, ha)
		if h.busy[ha.host] < h.limit {
			if next, ok := h.wakeNext(ha.host); ok {
				wake = append(wake, next)
			}
		}
	}
	return wake
}

// wakeNext takes the first account that still waits off host's line and
// marks it woken; h.mu is held.
func (h *hostLimiter) wakeNext(host string) (types.NamespacedName, bool) {
	for {
		line := h.line[host]
		if len(line) == 0 {
			delete(h.line, host)
			return types.NamespacedName{}, false
		}
		next := line[0]
		h.line[host] = line[1:]
		ha := hostAccount{host, next}
		if !h.waiting[ha] {
			continue
		}
		delete(h.waiting, ha)
		h.woken[ha] = true
		return next, true
	}
}
