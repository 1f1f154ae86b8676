package iot

// OperationFor returns the IoT model operation for a method and escaped path,
// or "" when none matches.
func OperationFor(method, escapedPath string) string { return "" }
