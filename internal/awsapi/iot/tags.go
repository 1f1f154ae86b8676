package iot

import (
	"context"
	"net/http"
	"strings"

	"github.com/portico-iot/portico/internal/awsapi"
	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/tagging"
)

// Tagger tags one kind of IoT resource. TagResource, UntagResource and
// ListTagsForResource are routed to a Tagger by the resource type of the ARN
// they name (arn:aws:iot:<region>:<account>:<type>/...): "domainconfiguration"
// today, "thing" or "policy" when those services arrive. A Tagger looks the
// ARN up exactly and answers fault.NotFound for one it does not hold
// (another region or account included); it validates tags with
// internal/tagging.
type Tagger interface {
	TagResource(ctx context.Context, arn string, tags []tagging.Tag) error
	UntagResource(ctx context.Context, arn string, keys []string) error
	ListTagsForResource(ctx context.Context, arn string) ([]tagging.Tag, error)
}

// tagger returns the Tagger for the resource an ARN names. A malformed or
// non-IoT ARN is InvalidRequestException; an IoT resource type Portico holds
// no taggable resources of is ResourceNotFoundException.
func (h *handler) tagger(arn string) (Tagger, error) {
	if arn == "" {
		return nil, fault.Invalidf("resourceArn is required")
	}
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || !strings.HasPrefix(parts[1], "aws") || parts[2] != "iot" || parts[5] == "" {
		return nil, fault.Invalidf("%q is not a valid AWS IoT resource ARN (arn:aws:iot:<region>:<account>:<type>/<id>)", arn)
	}
	kind, _, _ := strings.Cut(parts[5], "/")
	t, ok := h.taggers[kind]
	if !ok {
		return nil, fault.NotFoundf("Resource %s not found: Portico has no taggable resources of type %q", arn, kind)
	}
	return t, nil
}

func (h *handler) registerTags() {
	h.mux.HandleFunc("POST /tags", h.tagResource)
	h.mux.HandleFunc("POST /untag", h.untagResource)
	h.mux.HandleFunc("GET /tags", h.listTagsForResource)
}

// tag is the model's Tag structure (capitalised member names).
type tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

func fromWireTags(in []tag) []tagging.Tag {
	out := make([]tagging.Tag, 0, len(in))
	for _, t := range in {
		out = append(out, tagging.Tag{Key: t.Key, Value: t.Value})
	}
	return out
}

func (h *handler) tagResource(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ResourceArn string `json:"resourceArn"`
		Tags        []tag  `json:"tags"`
	}
	if err := awsapi.DecodeJSON(r, &req); err != nil {
		h.fail(w, err)
		return
	}
	t, err := h.tagger(req.ResourceArn)
	if err == nil && req.Tags == nil {
		err = fault.Invalidf("tags is required")
	}
	if err == nil {
		err = t.TagResource(r.Context(), req.ResourceArn, fromWireTags(req.Tags))
	}
	h.done(w, err)
}

func (h *handler) untagResource(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ResourceArn string   `json:"resourceArn"`
		TagKeys     []string `json:"tagKeys"`
	}
	if err := awsapi.DecodeJSON(r, &req); err != nil {
		h.fail(w, err)
		return
	}
	t, err := h.tagger(req.ResourceArn)
	if err == nil && req.TagKeys == nil {
		err = fault.Invalidf("tagKeys is required")
	}
	if err == nil {
		err = t.UntagResource(r.Context(), req.ResourceArn, req.TagKeys)
	}
	h.done(w, err)
}

// listTagsForResource answers in one page: a resource has at most
// tagging.MaxTags tags, so no nextToken is ever issued and any given one is
// refused.
func (h *handler) listTagsForResource(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	arn := q.Get("resourceArn")
	t, err := h.tagger(arn)
	if err != nil {
		h.fail(w, err)
		return
	}
	if next := q.Get("nextToken"); next != "" {
		h.fail(w, fault.Invalidf("nextToken %q was not returned by ListTagsForResource", next))
		return
	}
	tags, err := t.ListTagsForResource(r.Context(), arn)
	if err != nil {
		h.fail(w, err)
		return
	}
	out := struct {
		Tags []tag `json:"tags"`
	}{Tags: []tag{}}
	for _, tg := range tags {
		out.Tags = append(out.Tags, tag{Key: tg.Key, Value: tg.Value})
	}
	h.ok(w, out)
}
