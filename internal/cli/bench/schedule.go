package bench

import "time"

// Schedule gives each record of a fixed-rate run its intended send time:
// record i (from 0) is due at Start + i/Rate. Latency is measured from
// this time, not from when the record was actually handed to the client,
// so a stall (in the broker or in the client) counts against every
// record that should have been sent during it: no coordinated omission.
// A Rate of 0 means as fast as possible; then there is no intended time.
type Schedule struct {
	Start time.Time
	Rate  int64 // records per second; 0: unthrottled
}

// Offset is the intended time of record i relative to Start, computed in
// integers so that it is exact and never overflows for any i a run can
// reach.
func (s Schedule) Offset(i int64) time.Duration {
	if s.Rate <= 0 {
		return 0
	}
	whole := i / s.Rate
	frac := i % s.Rate
	return time.Duration(whole)*time.Second + time.Duration(frac*int64(time.Second)/s.Rate)
}

// Intended is the time record i is due.
func (s Schedule) Intended(i int64) time.Time { return s.Start.Add(s.Offset(i)) }

// DueBy is how many records are due at elapsed time d since Start: the
// number of i with Offset(i) <= d. Unthrottled schedules return -1 (no
// limit).
func (s Schedule) DueBy(d time.Duration) int64 {
	if s.Rate <= 0 {
		return -1
	}
	if d < 0 {
		return 0
	}
	// Offset(i) <= d  <=>  floor(i*1e9/rate) <= d  <=>  i*1e9 < (d+1)*rate
	// <=> i <= ((d+1)*rate - 1) / 1e9. Split d to avoid overflow.
	sec := int64(d / time.Second)
	ns := int64(d % time.Second)
	return sec*s.Rate + ((ns+1)*s.Rate-1)/int64(time.Second) + 1
}
