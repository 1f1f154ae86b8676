package endpoint

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/tagging"
)

// ResourceType is the resource type in a domain configuration's ARN
// (arn:aws:iot:<region>:<account>:domainconfiguration/<name>/<id>), the key
// under which the IoT adapter routes tag operations to this service.
const ResourceType = "domainconfiguration"

// TagResource adds tags to the configuration with this ARN, replacing the
// value of keys it has already.
func (s *Service) TagResource(ctx context.Context, arn string, tags []Tag) error {
	return s.changeTags(ctx, arn, func(existing []Tag) ([]Tag, error) { return tagging.Apply(existing, tags) })
}

// UntagResource removes the tags with these keys; absent keys are ignored.
func (s *Service) UntagResource(ctx context.Context, arn string, keys []string) error {
	return s.changeTags(ctx, arn, func(existing []Tag) ([]Tag, error) { return tagging.Remove(existing, keys) })
}

// ListTagsForResource returns the configuration's tags in the order they
// were first added.
func (s *Service) ListTagsForResource(ctx context.Context, arn string) ([]Tag, error) {
	return readTags(ctx, s.st.DB(), arn)
}

func (s *Service) changeTags(ctx context.Context, arn string, change func([]Tag) ([]Tag, error)) error {
	_, err := s.st.Update(ctx, func(tx *sql.Tx) error {
		existing, err := readTags(ctx, tx, arn)
		if err != nil {
			return err
		}
		tags, err := change(existing)
		if err != nil {
			return err
		}
		b, err := json.Marshal(tags)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE domain_configurations SET tags=? WHERE arn=?`, string(b), arn); err != nil {
			return fmt.Errorf("endpoint: tag %s: %w", arn, err)
		}
		return nil
	})
	return err
}

func readTags(ctx context.Context, q queryRower, arn string) ([]Tag, error) {
	var raw string
	err := q.QueryRowContext(ctx, `SELECT tags FROM domain_configurations WHERE arn=?`, arn).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fault.NotFoundf("Domain configuration %s not found", arn)
	}
	if err != nil {
		return nil, fmt.Errorf("endpoint: read tags of %s: %w", arn, err)
	}
	tags := []Tag{}
	if err := json.Unmarshal([]byte(raw), &tags); err != nil {
		return nil, fmt.Errorf("endpoint: corrupt tags of %s: %w", arn, err)
	}
	return tags, nil
}
