// Package iotdata is the restJson1 adapter for the IoT data plane (signing
// name "iotdata"): HTTPS Publish into the broker, and GetRetainedMessage and
// ListRetainedMessages from its retained message store.
package iotdata

import (
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/portico-iot/portico/internal/awsapi"
	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/policy"
)

// Publisher delivers a message to MQTT subscribers (internal/broker).
type Publisher interface {
	Publish(topic string, payload []byte, qos byte, retain bool) error
}

// MaxPayloadBytes is AWS IoT's message payload limit.
const MaxPayloadBytes = 128 * 1024

// MaxTopicBytes bounds a topic name (AWS: 256 bytes).
const MaxTopicBytes = 256

var codes = awsapi.Codes{
	fault.Invalid:       "InvalidRequestException",
	fault.NotFound:      "ResourceNotFoundException",
	fault.Conflict:      "ConflictException",
	fault.LimitExceeded: "RequestEntityTooLargeException",
	fault.Internal:      "InternalFailureException",
}

// Authorize decides whether the request may publish to topic: iot:Publish,
// and iot:RetainPublish as well when retain is set.
type Authorize func(r *http.Request, topic string, retain bool) bool

// AuthorizeRetained decides iot:GetRetainedMessage on a topic and
// iot:ListRetainedMessages (topic "") for a device's request.
type AuthorizeRetained func(r *http.Request, action policy.Action, topic string) bool

type handler struct {
	pub       Publisher
	logger    *slog.Logger
	mux       *http.ServeMux
	authorize Authorize // nil: every authenticated request may publish
	// retained decides the retained-message reads of devices; nil with a
	// non-nil authorize refuses them.
	retained AuthorizeRetained
}

// New returns the iot-data handler for requests signed with the API's own
// credentials, which may publish to any topic. Authentication happens before
// it, in awsapi.
func New(pub Publisher, logger *slog.Logger) http.Handler { return NewDevice(pub, logger, nil) }

// NewDevice returns the iot-data handler for devices authenticated by a
// client certificate (in the gateway): authorize decides each publish with
// the device's policies, and a refused one is answered 403
// ForbiddenException. A nil authorize allows every publish.
func NewDevice(pub Publisher, logger *slog.Logger, authorize Authorize) http.Handler {
	return NewDeviceWithRetained(pub, logger, authorize, nil)
}

// NewDeviceWithRetained is NewDevice whose devices may also read retained
// messages (GetRetainedMessage, ListRetainedMessages) as retained allows.
func NewDeviceWithRetained(pub Publisher, logger *slog.Logger, authorize Authorize, retained AuthorizeRetained) http.Handler {
	h := &handler{pub: pub, logger: logger, mux: http.NewServeMux(), authorize: authorize, retained: retained}
	h.mux.HandleFunc("POST /topics/{topic}", h.publish)
	h.mux.HandleFunc("GET /retainedMessage/{topic}", h.getRetained)
	h.mux.HandleFunc("GET /retainedMessage", h.listRetained)
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		op := r.Method + " " + r.URL.Path
		awsapi.NotImplemented(w, awsapi.RestJSON, op)
	})
	return h
}

// Register adds the iot-data adapter to an API server.
func Register(api *awsapi.Server, pub Publisher, logger *slog.Logger) {
	api.Register(awsapi.Service{SigningName: "iotdata", Protocol: awsapi.RestJSON, Handler: New(pub, logger)})
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if w.Header().Get("X-Amzn-RequestId") == "" {
		w.Header().Set("X-Amzn-RequestId", awsapi.NewRequestID())
	}
	h.mux.ServeHTTP(w, r)
}

func (h *handler) publish(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	if err := checkTopic(topic); err != nil {
		h.fail(w, err)
		return
	}
	q := r.URL.Query()
	var qos byte
	switch q.Get("qos") {
	case "", "0":
	case "1":
		qos = 1
	default:
		h.fail(w, fault.Invalidf("qos must be 0 or 1"))
		return
	}
	retain := false
	if v := q.Get("retain"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			h.fail(w, fault.Invalidf("retain must be true or false"))
			return
		}
		retain = b
	}
	if h.authorize != nil && !h.authorize(r, topic, retain) {
		action := "iot:Publish"
		if retain {
			action = "iot:Publish and iot:RetainPublish"
		}
		h.logger.Info("https publish refused: not authorized", "topic", topic, "retain", retain, "remote", r.RemoteAddr,
			"reason", "the policies do not allow "+action)
		awsapi.WriteError(w, awsapi.RestJSON, awsapi.RequestID(w), awsapi.ErrorBody{Status: http.StatusForbidden,
			Code: "ForbiddenException", Message: "Not authorized to publish to topic " + topic + " (" + action + ")"})
		return
	}
	payload, err := io.ReadAll(io.LimitReader(r.Body, MaxPayloadBytes+1))
	if err != nil {
		h.fail(w, fault.Invalidf("could not read the payload: %v", err))
		return
	}
	if len(payload) > MaxPayloadBytes {
		h.fail(w, fault.Coded(fault.LimitExceeded, "RequestEntityTooLargeException", "payload exceeds %d bytes", MaxPayloadBytes))
		return
	}
	if err := h.pub.Publish(topic, payload, qos, retain); err != nil {
		h.fail(w, err)
		return
	}
	awsapi.WriteJSON(w, awsapi.RestJSON, map[string]string{"message": "OK", "traceId": awsapi.RequestID(w)})
}

func checkTopic(topic string) error {
	switch {
	case topic == "":
		return fault.Invalidf("topic must not be empty")
	case len(topic) > MaxTopicBytes:
		return fault.Invalidf("topic exceeds %d bytes", MaxTopicBytes)
	case strings.ContainsAny(topic, "#+"):
		return fault.Invalidf("topic %q must not contain the wildcards + or #", topic)
	case strings.ContainsRune(topic, 0):
		return fault.Invalidf("topic must not contain the NUL character")
	}
	return nil
}

func (h *handler) fail(w http.ResponseWriter, err error) {
	awsapi.WriteFault(w, awsapi.RestJSON, codes, h.logger, err)
}
