package certificate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/portico-iot/portico/internal/fault"
)

// MaxTags is ACM's limit of tags per certificate.
const MaxTags = 50

var tagPattern = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

func invalidTag(format string, args ...any) error {
	return fault.Coded(fault.Invalid, "InvalidTagException", format, args...)
}

// checkTags applies the model's constraints to a tag list. optional says
// whether an empty list is acceptable.
func checkTags(tags []Tag, optional bool) error {
	if len(tags) == 0 {
		if optional {
			return nil
		}
		return invalid("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if len(tags) > MaxTags {
		return invalid("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to %d", MaxTags)
	}
	for _, t := range tags {
		if n := utf8.RuneCountInString(t.Key); n < 1 || n > 128 {
			return invalid("1 validation error detected: Value '%s' at 'tags.member.key' failed to satisfy constraint: Member must have length between 1 and 128", t.Key)
		}
		if !tagPattern.MatchString(t.Key) {
			return invalidTag("The tag key %q contains characters that are not allowed.", t.Key)
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return invalidTag("The tag key %q uses the reserved prefix aws:.", t.Key)
		}
		if t.Value != nil {
			if utf8.RuneCountInString(*t.Value) > 256 {
				return invalid("1 validation error detected: Value at 'tags.member.value' failed to satisfy constraint: Member must have length less than or equal to 256")
			}
			if !tagPattern.MatchString(*t.Value) {
				return invalidTag("The value of tag %q contains characters that are not allowed.", t.Key)
			}
		}
	}
	return nil
}

func putTags(ctx context.Context, tx *sql.Tx, id int64, tags []Tag) error {
	for _, t := range tags {
		var v any
		if t.Value != nil {
			v = *t.Value
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO acm_certificate_tag (certificate_id, key, value) VALUES (?, ?, ?)
			ON CONFLICT(certificate_id, key) DO UPDATE SET value=excluded.value`, id, t.Key, v); err != nil {
			return fmt.Errorf("certificate: put tag: %w", err)
		}
	}
	return nil
}

func idOf(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, arn string) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT id FROM acm_certificate WHERE arn=?`, arn).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, notFound(arn)
	}
	if err != nil {
		return 0, fmt.Errorf("certificate: read %s: %w", arn, err)
	}
	return id, nil
}

// AddTags adds tags to a certificate, replacing the value of keys it has.
func (s *Service) AddTags(ctx context.Context, arn string, tags []Tag) error {
	if err := CheckARN(arn); err != nil {
		return err
	}
	if err := checkTags(tags, false); err != nil {
		return err
	}
	_, err := s.st.Update(ctx, func(tx *sql.Tx) error {
		id, err := idOf(ctx, tx, arn)
		if err != nil {
			return err
		}
		if err := putTags(ctx, tx, id, tags); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM acm_certificate_tag WHERE certificate_id=?`, id).Scan(&n); err != nil {
			return fmt.Errorf("certificate: count tags: %w", err)
		}
		if n > MaxTags {
			return fault.Coded(fault.Invalid, "TooManyTagsException", "Certificate %s would have %d tags; the limit is %d.", arn, n, MaxTags)
		}
		return nil
	})
	return err
}

// RemoveTags removes tags from a certificate. A tag without a value removes
// the key whatever its value; with a value, only when the value matches.
func (s *Service) RemoveTags(ctx context.Context, arn string, tags []Tag) error {
	if err := CheckARN(arn); err != nil {
		return err
	}
	if err := checkTags(tags, false); err != nil {
		return err
	}
	_, err := s.st.Update(ctx, func(tx *sql.Tx) error {
		id, err := idOf(ctx, tx, arn)
		if err != nil {
			return err
		}
		for _, t := range tags {
			if t.Value == nil {
				_, err = tx.ExecContext(ctx, `DELETE FROM acm_certificate_tag WHERE certificate_id=? AND key=?`, id, t.Key)
			} else {
				_, err = tx.ExecContext(ctx, `DELETE FROM acm_certificate_tag WHERE certificate_id=? AND key=? AND COALESCE(value, '')=?`, id, t.Key, *t.Value)
			}
			if err != nil {
				return fmt.Errorf("certificate: remove tag: %w", err)
			}
		}
		return nil
	})
	return err
}

// Tags lists a certificate's tags, ordered by key.
func (s *Service) Tags(ctx context.Context, arn string) ([]Tag, error) {
	if err := CheckARN(arn); err != nil {
		return nil, err
	}
	db := s.st.DB()
	id, err := idOf(ctx, db, arn)
	if err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, `SELECT key, value FROM acm_certificate_tag WHERE certificate_id=? ORDER BY key`, id)
	if err != nil {
		return nil, fmt.Errorf("certificate: list tags: %w", err)
	}
	defer rows.Close()
	out := []Tag{}
	for rows.Next() {
		var (
			t Tag
			v sql.NullString
		)
		if err := rows.Scan(&t.Key, &v); err != nil {
			return nil, fmt.Errorf("certificate: list tags: %w", err)
		}
		if v.Valid {
			t.Value = &v.String
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
