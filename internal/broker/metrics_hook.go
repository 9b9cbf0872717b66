package broker

// SetMetrics sets the receiver of the broker's measurements. Call it before
// the broker serves requests: it is not synchronised with the handlers.
func (b *Broker) SetMetrics(m Metrics) {
	b.metrics = m
	b.flusher.Observe(m.Fsync)
}
