package device

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/tagging"
)

// CAResourceType is the resource type in CA certificate ARNs
// (arn:aws:iot:<region>:<account>:cacert/<id>), by which TagResource and
// its siblings find the CA certificate registry.
const CAResourceType = "cacert"

// TagCACertificate adds tags to the CA certificate with the given ARN; a
// key it has already gets the new value.
func (s *Service) TagCACertificate(ctx context.Context, arn string, tags []tagging.Tag) error {
	return s.changeCATags(ctx, arn, func(existing []tagging.Tag) ([]tagging.Tag, error) { return tagging.Apply(existing, tags) })
}

// UntagCACertificate removes the tags with these keys; absent keys are
// ignored.
func (s *Service) UntagCACertificate(ctx context.Context, arn string, keys []string) error {
	return s.changeCATags(ctx, arn, func(existing []tagging.Tag) ([]tagging.Tag, error) { return tagging.Remove(existing, keys) })
}

// CACertificateTags returns the tags of the CA certificate with the given
// ARN, ordered by key.
func (s *Service) CACertificateTags(ctx context.Context, arn string) ([]tagging.Tag, error) {
	id, err := s.caIDOfARN(arn)
	if err != nil {
		return nil, err
	}
	return readCATags(ctx, s.st.DB(), id, arn)
}

// caIDOfARN returns the ID in a CA certificate ARN of this region and
// account; any other ARN names nothing Portico holds.
func (s *Service) caIDOfARN(arn string) (string, error) {
	id, ok := strings.CutPrefix(arn, "arn:aws:iot:"+s.region+":"+s.account+":"+CAResourceType+"/")
	if !ok {
		return "", fault.NotFoundf("Resource %s not found", arn)
	}
	id, err := validateID(id)
	if err != nil {
		return "", fault.NotFoundf("Resource %s not found", arn)
	}
	return id, nil
}

type rowQuerier interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}

// readCATags reads a CA certificate's tags; a CA that does not exist is
// NotFound.
func readCATags(ctx context.Context, q rowQuerier, id, arn string) ([]tagging.Tag, error) {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM device_ca_certificates WHERE id=?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fault.NotFoundf("Resource %s not found", arn)
	}
	if err != nil {
		return nil, fmt.Errorf("device: CA certificate tags: %w", err)
	}
	rows, err := q.QueryContext(ctx, `SELECT key, value FROM device_ca_certificate_tags WHERE ca_certificate_id=? ORDER BY key`, id)
	if err != nil {
		return nil, fmt.Errorf("device: CA certificate tags: %w", err)
	}
	defer rows.Close()
	tags := []tagging.Tag{}
	for rows.Next() {
		var t tagging.Tag
		if err := rows.Scan(&t.Key, &t.Value); err != nil {
			return nil, fmt.Errorf("device: CA certificate tags: %w", err)
		}
		tags = append(tags, t)
	}
	return tags, rows.Err()
}

func (s *Service) changeCATags(ctx context.Context, arn string, change func([]tagging.Tag) ([]tagging.Tag, error)) error {
	id, err := s.caIDOfARN(arn)
	if err != nil {
		return err
	}
	_, err = s.st.Update(ctx, func(tx *sql.Tx) error {
		existing, err := readCATags(ctx, tx, id, arn)
		if err != nil {
			return err
		}
		tags, err := change(existing)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM device_ca_certificate_tags WHERE ca_certificate_id=?`, id); err != nil {
			return fmt.Errorf("device: tag %s: %w", arn, err)
		}
		for _, t := range tags {
			if _, err := tx.ExecContext(ctx, `INSERT INTO device_ca_certificate_tags (ca_certificate_id, key, value) VALUES (?, ?, ?)`,
				id, t.Key, t.Value); err != nil {
				return fmt.Errorf("device: tag %s: %w", arn, err)
			}
		}
		return nil
	})
	return err
}
