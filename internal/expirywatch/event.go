package expirywatch

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// DetailTypeApproachingExpiration is ACM's detail-type of the event.
const DetailTypeApproachingExpiration = "ACM Certificate Approaching Expiration"

// Event is an EventBridge event as ACM emits it.
type Event struct {
	Version    string   `json:"version"`
	ID         string   `json:"id"`
	DetailType string   `json:"detail-type"`
	Source     string   `json:"source"`
	Account    string   `json:"account"`
	Time       string   `json:"time"`
	Region     string   `json:"region"`
	Resources  []string `json:"resources"`
	Detail     Detail   `json:"detail"`
}

// Detail is the detail of an approaching-expiration event.
type Detail struct {
	DaysToExpiry int    `json:"DaysToExpiry"`
	CommonName   string `json:"CommonName"`
}

func approachingExpiration(w *Watcher, c Certificate, days int, now time.Time) Event {
	id := newUUID
	if w.NewID != nil {
		id = w.NewID
	}
	return Event{
		Version:    "0",
		ID:         id(),
		DetailType: DetailTypeApproachingExpiration,
		Source:     "aws.acm",
		Account:    w.Account,
		Time:       now.UTC().Format(time.RFC3339),
		Region:     w.Region,
		Resources:  []string{c.ARN},
		Detail:     Detail{DaysToExpiry: days, CommonName: c.CommonName},
	}
}

// send logs the event and POSTs it once to every webhook. A webhook that
// fails is logged and not retried: tomorrow's event follows anyway, and a
// retry loop against a dead receiver would only add load.
func (w *Watcher) send(ctx context.Context, ev Event) {
	w.logger().Warn(ev.DetailType, "certificate_arn", ev.Resources[0], "common_name", ev.Detail.CommonName,
		"days_to_expiry", ev.Detail.DaysToExpiry, "event_id", ev.ID)
	if len(w.Webhooks) == 0 {
		return
	}
	body, err := json.Marshal(ev)
	if err != nil {
		w.logger().Error("expiry event does not encode", "err", err)
		return
	}
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: DefaultWebhookTimeout}
	}
	for _, url := range w.Webhooks {
		if err := post(ctx, client, url, body); err != nil {
			w.logger().Warn("expiry webhook failed", "url", url, "certificate_arn", ev.Resources[0], "event_id", ev.ID, "err", err)
		}
	}
}

func post(ctx context.Context, client *http.Client, url string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, DefaultWebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
