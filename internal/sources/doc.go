// Package sources turns a plan's sources into measure values for its
// accounts: Prometheus vector queries, HTTP JSON documents and the static
// signals of each account.
package sources
