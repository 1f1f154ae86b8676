package iot

// Endpoints is the domain-configuration service as the adapter sees it.
type Endpoints interface{}

func (h *handler) registerEndpoints() {}
