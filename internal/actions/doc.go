// Package actions delivers the webhooks of a plan's stage actions.
//
// # Delivery contract
//
// Every action of a stage visit has an idempotency key, Key(account UID,
// stage, stage entry time, action name). The key is stable: a retry, a
// requeue or an operator restart recomputes the same key, while re-entering
// the stage later starts a new visit with new keys.
//
// The operator drives deliveries through the account's status.actions:
//
//  1. When an action becomes due, the account reconciler records a Pending
//     entry carrying the key in status, and only after that write succeeds
//     hands it to the delivery dispatcher, which makes the attempts apart
//     from the reconcile. A restart therefore finds the entry and resumes
//     it: an action is never skipped and never sent under a new key.
//  2. After each attempt (Sender.Send) the dispatcher records the outcome
//     on the entry, once: Delivered on success; otherwise the attempt count
//     and the error message, and the next attempt waits Backoff(attempts).
//     After MaxAttempts failed attempts the entry is Failed and is not
//     retried.
//
// Delivery is thus at least once: an attempt whose outcome was not recorded
// (a crash between the POST and the status write) is repeated with the
// same key. Receivers must deduplicate by the key, sent both as the
// Idempotency-Key header and as the Standard Webhooks webhook-id.
//
// # Signatures
//
// Deliveries follow the Standard Webhooks specification
// (https://www.standardwebhooks.com): the headers webhook-id (the
// idempotency key), webhook-timestamp (Unix seconds of the attempt) and,
// when the webhook has a secret, webhook-signature: "v1," and the base64
// HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>" keyed by the
// Secret's raw "key" bytes. Receivers verify with Verify or any Standard
// Webhooks library, which takes the key as LibrarySecret(key), "whsec_" +
// base64(key). The body carries the key and the due time, so a replayed
// body is a duplicate, not a new action.
//
// # Audiences
//
// An action with an audience is for some of the account's contacts:
// Recipients selects them by role or persona and the payload carries them
// (name, email, role, persona). The reconciler records an action whose
// audience matches no contact as Skipped instead of sending it. Contacts
// are personal data: they go into the payload and nowhere else.
//
// Only a 2xx answer is success. Redirects are not followed: a webhook
// answers at its configured URL. Error messages say what failed ("HTTP 503",
// "request timed out") and never contain the URL, the secret or the
// response body, so they can be written to status and events.
package actions
