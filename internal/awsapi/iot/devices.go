package iot

// Devices is the certificate registry (internal/device) as the adapter sees it.
type Devices interface{}

func (h *handler) registerDevices() {}
