package storage

import (
	"sync"
	"time"
)

// Rate-limit leases. A busy key's api takes a few tokens at once from the key's shared bucket
// (one script call) and spends them in process, so most of its calls make no Redis round trip
// for the limit. Exactness holds because an api only spends tokens the bucket gave it: across
// every api, a key is admitted no more than the bucket allows. What a lease costs is timing
// and fairness: a token may be spent up to leaseWindow after it was taken, and a replica
// holding a lease serves calls while another may already answer 429.
//
// The unused rest of a lease is given back with the key's next take from the same api (moving
// the bucket's TAT back), but only when the bucket's TAT is still what that api's last take set,
// that is when nobody spent or gave back since: the give-back then undoes exactly part of that
// take and never credits tokens the bucket has refilled since. Otherwise the rest lapses: at most
// one lease (leaseCap) per api and key, never more than one second of the key's rate.

// leaseWindow bounds how long an api keeps tokens it took from a key's bucket.
const leaseWindow = time.Second

// maxLease bounds a lease: small, so the tokens an api holds back from the other replicas are
// few.
const maxLease = 16

// maxLeaseWaits bounds the leases a call waits for before it takes a token of its own.
const maxLeaseWaits = 3

// maxLeaseKeys is how many keys' lease state an api keeps before it drops the idle ones.
const maxLeaseKeys = 10000

// leaseCap is the largest lease for a key of rpm requests a minute: one second's worth, 1 to
// maxLease. Keys below 120 rpm therefore take one token per call, as without leases.
func leaseCap(rpm int) int { return max(1, min(maxLease, rpm/60)) }

// lease is one key's tokens in this api.
type lease struct {
	left      int            // tokens still to spend
	tat       string         // the bucket's TAT right after the last take: the give-back's condition
	size      int            // tokens the last take asked for
	taken     time.Time      // when the last take was granted
	expires   time.Time      // after this the rest is not spent
	remaining int            // the bucket's remaining count right after the take
	reset     time.Duration  // and its time until full
	taking    chan struct{}  // while a take that will install a lease is in flight: closed when done
	waiters   []*leaseWaiter // calls waiting for that take
}

// leaseWaiter is a call waiting for another's take: served, it got a token of the new lease.
type leaseWaiter struct {
	served bool
	d      RateDecision
}

// leases are this api's leases, by key id.
type leases struct {
	mu sync.Mutex
	m  map[string]*lease
}

func newLeases() *leases { return &leases{m: map[string]*lease{}} }

// spend takes one token of keyID's lease when it holds one.
func (l *leases) spend(keyID string, rpm int, now time.Time) (RateDecision, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ls := l.m[keyID]
	if ls == nil || ls.left == 0 || !now.Before(ls.expires) {
		return RateDecision{}, false
	}
	return ls.spend(rpm, now), true
}

// spend takes one token; l.mu is held and the lease has one.
func (ls *lease) spend(rpm int, now time.Time) RateDecision {
	ls.left--
	return RateDecision{Allowed: true, Limit: rpm, Remaining: ls.remaining + ls.left,
		Reset: max(0, ls.reset-now.Sub(ls.taken))}
}

// takePlan is what one call asks of the bucket: want tokens, after giving back back tokens
// if the TAT is still tat. A leader's reply installs the key's next lease. A call that finds
// a leader's take in flight gets wait instead: once it is closed, waiter says whether the new
// lease served the call.
type takePlan struct {
	want, back int
	tat        string
	leader     bool
	wait       <-chan struct{}
	waiter     *leaseWaiter
}

// plan decides a call's take when the lease had nothing to spend. The first such call leads: it
// asks for the next lease and gives back the expired lease's rest; calls meanwhile wait for it
// (when first is set) or take one token each, so concurrent misses do not each take a lease.
func (l *leases) plan(keyID string, rpm int, now time.Time, first bool) takePlan {
	l.mu.Lock()
	defer l.mu.Unlock()
	ls := l.m[keyID]
	if ls == nil {
		l.prune(now)
		ls = &lease{}
		l.m[keyID] = ls
	}
	if ls.taking != nil {
		if first {
			w := &leaseWaiter{}
			ls.waiters = append(ls.waiters, w)
			return takePlan{wait: ls.taking, waiter: w}
		}
		return takePlan{want: 1}
	}
	p := takePlan{want: ls.nextSize(rpm, now), back: ls.left, tat: ls.tat, leader: true}
	ls.left, ls.taking = 0, make(chan struct{}) // the rest is given back now, or lost
	return p
}

// nextSize adapts the lease to the key's pace: 1 for a quiet key, doubled when the last lease
// was spent within its window, halved when it expired unspent.
func (ls *lease) nextSize(rpm int, now time.Time) int {
	c := leaseCap(rpm)
	switch {
	case ls.size == 0 || now.Sub(ls.expires) > leaseWindow:
		return 1
	case ls.left == 0 && now.Before(ls.expires):
		return min(c, ls.size*2)
	case ls.left == 0:
		return min(c, ls.size)
	}
	return max(1, min(c, ls.size/2))
}

// granted records a take's outcome (granted tokens, one of which the caller spends now; a
// leader's next ones go to the calls that waited for it, which share its refusal when it got
// none) and returns the caller's decision.
// bucket is the script's decision for the bucket alone.
func (l *leases) granted(keyID string, p takePlan, granted int, bucket RateDecision, tat string, now time.Time) RateDecision {
	l.mu.Lock()
	defer l.mu.Unlock()
	ls := l.m[keyID]
	if ls == nil {
		ls = &lease{}
		l.m[keyID] = ls
	}
	if p.leader {
		ls.size = p.want
		if granted > 0 {
			ls.left, ls.tat, ls.taken, ls.expires = granted-1, tat, now, now.Add(leaseWindow)
			ls.remaining, ls.reset = bucket.Remaining, bucket.Reset
			for _, w := range ls.waiters {
				if ls.left == 0 {
					break
				}
				w.served, w.d = true, ls.spend(bucket.Limit, now)
			}
		} else {
			for _, w := range ls.waiters { // the bucket is empty for them too: refusing is safe
				w.served, w.d = true, bucket
			}
		}
		ls.done()
	}
	bucket.Allowed = granted > 0
	if bucket.Allowed {
		bucket.Remaining += ls.left
	}
	return bucket
}

// failed ends a leader's take that got no reply: whatever it gave back or took is lost.
func (l *leases) failed(keyID string, p takePlan) {
	if !p.leader {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if ls := l.m[keyID]; ls != nil {
		ls.done()
	}
}

// done ends the leader's take: its waiters go on. l.mu is held.
func (ls *lease) done() {
	ls.waiters = nil
	if ls.taking != nil {
		close(ls.taking)
		ls.taking = nil
	}
}

// prune drops idle keys once there are many (their rest has lapsed); l.mu is held.
func (l *leases) prune(now time.Time) {
	if len(l.m) < maxLeaseKeys {
		return
	}
	for id, ls := range l.m {
		if ls.taking == nil && now.After(ls.expires) {
			delete(l.m, id)
		}
	}
}
