package broker

// Parked is how many of b's connections are parked (park.go).
func Parked(b *Broker) int {
	b.readers.mu.Lock()
	defer b.readers.mu.Unlock()
	n := 0
	for r := range b.readers.all {
		if r.state.Load() == readerParked {
			n++
		}
	}
	return n
}
