// Package bench is `plexus bench`: load generators built on franz-go
// (produce, consume, e2e) and a measurement of the machine's own limits
// (limits), one file per verb.
//
// # Measuring latency without coordinated omission
//
// With --rate R, record i is due at start + i/R (Schedule). Producer
// goroutines take record numbers from one shared counter, sleep until the
// record is due (or send at once if it is late) and stamp the due time
// into the first 8 bytes of the value:
//
//	value: | due time, ns since the Unix epoch, big endian (8 bytes) | payload ... |
//
// The produce promise computes ack time - due time, and the e2e consumer
// receive time - due time, from that stamp, so a stall counts against
// every record that should have been sent during it. Without --rate the
// stamp is the time the record was handed to the client. Records shorter
// than 8 bytes carry no stamp and are left out of the latency figures.
//
// # Histograms
//
// Histogram is log-linear in the manner of HdrHistogram: exact below 256
// ns, then 128 buckets per power of two, so any value is reported within
// 0.8% (percentiles give the highest value of the bucket, capped at the
// exact maximum). Its size is fixed (about 60 KiB) and Record never
// allocates.
//
// # Broker cost
//
// With --broker-pid, utime+stime of /proc/PID/stat is read before and
// after the run (in USER_HZ ticks, 10 ms), and VmHWM/VmRSS of
// /proc/PID/status after it. CPU seconds per GB divides the CPU time by
// 10^9 bytes of record keys and values moved. A GB here, as in MB/s, is
// decimal. The machine's busy CPU from /proc/stat over the same run is
// reported too, with the part neither the broker nor the client accounts
// for: kernel threads that work for them (the page-cache writeback a
// syncfs hands to the flusher threads) and anything else running.
//
// # Allocation
//
// Records, with their value and key buffers, come from a pool and return
// to it when their promise has run, so the client allocates only as many
// records as are in flight; on a small machine the load generator shares
// the CPUs with the broker it measures.
package bench
