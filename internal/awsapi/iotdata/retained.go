package iotdata

// GetRetainedMessage and ListRetainedMessages, read from the broker's
// retained message store.

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/portico-iot/portico/internal/awsapi"
	"github.com/portico-iot/portico/internal/broker"
	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/policy"
)

// RetainedStore reads retained messages (internal/broker). A Publisher that
// is also a RetainedStore serves GetRetainedMessage and ListRetainedMessages.
type RetainedStore interface {
	RetainedMessage(topic string) (broker.RetainedMessage, bool)
	RetainedMessages(after string, limit int) ([]broker.RetainedMessage, bool)
}

// List page sizes: the model bounds maxResults to 1..200.
const (
	maxListResults     = 200
	defaultListResults = 200
)

type getRetainedOutput struct {
	Topic            string `json:"topic"`
	Payload          []byte `json:"payload,omitempty"`
	QoS              int    `json:"qos"`
	LastModifiedTime int64  `json:"lastModifiedTime"`
	UserProperties   []byte `json:"userProperties,omitempty"`
}

type retainedSummary struct {
	Topic            string `json:"topic"`
	PayloadSize      int    `json:"payloadSize"`
	QoS              int    `json:"qos"`
	LastModifiedTime int64  `json:"lastModifiedTime"`
}

type listRetainedOutput struct {
	RetainedTopics []retainedSummary `json:"retainedTopics"`
	NextToken      string            `json:"nextToken,omitempty"`
}

// store returns the retained store, or answers the request when there is
// none or the caller is a device its policies do not allow the action.
func (h *handler) store(w http.ResponseWriter, r *http.Request, action policy.Action, topic string) RetainedStore {
	if h.authorize != nil && (h.retained == nil || !h.retained(r, action, topic)) {
		h.logger.Info("https retained message request refused", "action", action.String(), "topic", topic, "remote", r.RemoteAddr,
			"reason", "the policies do not allow "+action.String())
		msg := "Not authorized: the policies do not allow " + action.String()
		if topic != "" {
			msg += " on topic " + topic
		}
		awsapi.WriteError(w, awsapi.RestJSON, awsapi.RequestID(w), awsapi.ErrorBody{Status: http.StatusForbidden,
			Code: "ForbiddenException", Message: msg})
		return nil
	}
	rs, ok := h.pub.(RetainedStore)
	if !ok {
		awsapi.NotImplemented(w, awsapi.RestJSON, action.String())
		return nil
	}
	return rs
}

func (h *handler) getRetained(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	if err := checkTopic(topic); err != nil {
		h.fail(w, err)
		return
	}
	rs := h.store(w, r, policy.GetRetainedMessage, topic)
	if rs == nil {
		return
	}
	m, ok := rs.RetainedMessage(topic)
	if !ok {
		h.fail(w, fault.NotFoundf("No retained message found for topic %s", topic))
		return
	}
	out := getRetainedOutput{Topic: m.Topic, Payload: m.Payload, QoS: int(m.QoS), LastModifiedTime: m.LastModified.UnixMilli()}
	if len(m.UserProperties) > 0 {
		// AWS: a base64-encoded JSON array of one-member objects.
		props := make([]map[string]string, len(m.UserProperties))
		for i, p := range m.UserProperties {
			props[i] = map[string]string{p.Key: p.Value}
		}
		out.UserProperties, _ = json.Marshal(props)
	}
	awsapi.WriteJSON(w, awsapi.RestJSON, out)
}

func (h *handler) listRetained(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := defaultListResults
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListResults {
			h.fail(w, fault.Invalidf("maxResults must be between 1 and %d", maxListResults))
			return
		}
		limit = n
	}
	var after string
	if tok := q.Get("nextToken"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(b) == 0 {
			h.fail(w, fault.Invalidf("nextToken is not valid"))
			return
		}
		after = string(b)
	}
	rs := h.store(w, r, policy.ListRetainedMessages, "")
	if rs == nil {
		return
	}
	msgs, more := rs.RetainedMessages(after, limit)
	out := listRetainedOutput{RetainedTopics: make([]retainedSummary, 0, len(msgs))}
	for _, m := range msgs {
		out.RetainedTopics = append(out.RetainedTopics, retainedSummary{Topic: m.Topic, PayloadSize: len(m.Payload),
			QoS: int(m.QoS), LastModifiedTime: m.LastModified.UnixMilli()})
	}
	if more && len(msgs) > 0 {
		out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(msgs[len(msgs)-1].Topic))
	}
	awsapi.WriteJSON(w, awsapi.RestJSON, out)
}
