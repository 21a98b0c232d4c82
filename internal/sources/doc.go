// Package sources turns a plan's sources into measure values for its
// accounts: Prometheus vector queries, HTTP JSON documents and the static
// signals of each account. Remote sources are reached with the guarded
// clients of package outbound, and a failed request becomes a Sample.Err
// in the words of outbound.Describe.
package sources
