package awsapi

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strconv"
)

// Protocol is an AWS wire protocol; it decides the shape of error responses.
type Protocol int

const (
	// RestJSON is restJson1 (iot, iot-data).
	RestJSON Protocol = iota + 1
	// JSON11 is awsJson1_1 (acm).
	JSON11
	// RestXML is restXml (route53).
	RestXML
)

// Route53Namespace is the XML namespace of every Route 53 request and response.
const Route53Namespace = "https://route53.amazonaws.com/doc/2013-04-01/"

// ErrorBody is what an error response says, independent of its encoding.
type ErrorBody struct {
	Status  int
	Code    string
	Message string
	// Extra members for restJson/JSON 1.1 bodies (e.g. resourceId, resourceArn).
	Extra map[string]string
}

// WriteError writes e in the shape protocol p requires.
func WriteError(w http.ResponseWriter, p Protocol, requestID string, e ErrorBody) {
	h := w.Header()
	h.Set("X-Amzn-RequestId", requestID)
	h.Set("X-Amzn-ErrorType", e.Code)
	switch p {
	case RestXML:
		h.Set("Content-Type", "text/xml")
		typ := "Sender"
		if e.Status >= 500 {
			typ = "Receiver"
		}
		body := struct {
			XMLName xml.Name `xml:"ErrorResponse"`
			Xmlns   string   `xml:"xmlns,attr"`
			Error   struct {
				Type    string `xml:"Type"`
				Code    string `xml:"Code"`
				Message string `xml:"Message"`
			} `xml:"Error"`
			RequestID string `xml:"RequestId"`
		}{Xmlns: Route53Namespace, RequestID: requestID}
		body.Error.Type, body.Error.Code, body.Error.Message = typ, e.Code, e.Message
		out, _ := xml.Marshal(body)
		w.WriteHeader(e.Status)
		w.Write([]byte(xml.Header))
		w.Write(out)
	default:
		if p == JSON11 {
			h.Set("Content-Type", "application/x-amz-json-1.1")
		} else {
			h.Set("Content-Type", "application/json")
		}
		body := map[string]string{"__type": e.Code, "message": e.Message}
		for k, v := range e.Extra {
			body[k] = v
		}
		out, _ := json.Marshal(body)
		h.Set("Content-Length", strconv.Itoa(len(out)))
		w.WriteHeader(e.Status)
		w.Write(out)
	}
}

// WriteJSON writes a 200 JSON response with the protocol's content type.
func WriteJSON(w http.ResponseWriter, p Protocol, v any) {
	out, err := json.Marshal(v)
	if err != nil {
		WriteError(w, p, RequestID(w), ErrorBody{Status: 500, Code: "InternalFailureException", Message: "failed to encode response"})
		return
	}
	if p == JSON11 {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

// WriteXML writes a Route 53 XML response with the given status.
func WriteXML(w http.ResponseWriter, status int, v any) {
	out, err := xml.Marshal(v)
	if err != nil {
		WriteError(w, RestXML, RequestID(w), ErrorBody{Status: 500, Code: "InternalError", Message: "failed to encode response"})
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	w.Write([]byte(xml.Header))
	w.Write(out)
}

// RequestID returns the request ID the server assigned to the response.
func RequestID(w http.ResponseWriter) string { return w.Header().Get("X-Amzn-RequestId") }
