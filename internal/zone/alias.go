package zone

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// AliasTarget is where an alias record set points: a record set of the same
// type in one of Portico's hosted zones, or an endpoint hostname of
// Portico's own zone (OwnZone). Route 53 allows only the alias's own zone
// and AWS resources; Portico also accepts its other hosted zones (an
// extension).
type AliasTarget struct {
	HostedZoneID         string // without the /hostedzone/ prefix
	DNSName              string // Route 53 form: lower case, trailing dot
	EvaluateTargetHealth bool
}

func (a *AliasTarget) equal(b *AliasTarget) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// normalize returns the alias in stored form, or a problem with its name.
func (a *AliasTarget) normalize() (*AliasTarget, error) {
	n, err := parseName(strings.TrimSpace(a.DNSName))
	if err != nil {
		return nil, err
	}
	return &AliasTarget{HostedZoneID: StripIDPrefix(strings.TrimSpace(a.HostedZoneID)), DNSName: n.String(),
		EvaluateTargetHealth: a.EvaluateTargetHealth}, nil
}

// awsAliasTargets are the AWS resources Route 53 aliases may name, by the
// suffix of their DNS names, for a message saying which one Portico lacks.
var awsAliasTargets = []struct{ suffix, service string }{
	{".cloudfront.net.", "a CloudFront distribution"},
	{".elb.amazonaws.com.", "an Elastic Load Balancing load balancer"},
	{".elasticbeanstalk.com.", "an Elastic Beanstalk environment"},
	{".amazonaws.com.", "an AWS service endpoint (S3 website, API Gateway, VPC endpoint)"},
	{".awsglobalaccelerator.com.", "a Global Accelerator accelerator"},
}

// checkAlias checks the target of an alias record set named owner: its zone
// must be a Portico hosted zone, its name inside that zone, and a record set
// of the same type must exist there (in this batch's state for the zone
// being changed). It returns the problems found.
func (b *batchState) checkAlias(in RecordSetInput, owner domainName) ([]string, error) {
	alias, err := in.Alias.normalize()
	if err != nil {
		return []string{fmt.Sprintf("Tried to create an alias that targets %s, type %s in zone %s, but the target name is not valid: %s",
			in.Alias.DNSName, in.Type, in.Alias.HostedZoneID, err)}, nil
	}
	prefix := fmt.Sprintf("Tried to create an alias that targets %s, type %s in zone %s", alias.DNSName, in.Type, alias.HostedZoneID)
	target, _ := parseName(alias.DNSName)
	zoneName := b.zoneName
	sameZone := alias.HostedZoneID == b.zoneID
	if b.own != nil && alias.HostedZoneID == b.own.ID && !sameZone {
		return b.checkOwnAlias(alias, in.Type, prefix), nil
	}
	if !sameZone {
		var text string
		err := b.tx.QueryRowContext(b.ctx, `SELECT name FROM zone_hosted_zones WHERE id=?`, alias.HostedZoneID).Scan(&text)
		if errors.Is(err, sql.ErrNoRows) {
			what := "an AWS resource"
			for _, t := range awsAliasTargets {
				if strings.HasSuffix(alias.DNSName, t.suffix) {
					what = t.service
					break
				}
			}
			hint := b.ownHint(target)
			return []string{prefix + ", but that zone is not a Portico hosted zone: Portico answers alias records only for record sets " +
				"in its own hosted zones and its endpoint hostnames, not for " + what + " (Elastic Load Balancing, CloudFront, S3 and other AWS alias targets are not supported)" + hint}, nil
		}
		if err != nil {
			return nil, err
		}
		if zoneName, err = parseName(text); err != nil {
			return nil, fmt.Errorf("zone: stored zone name %q: %w", text, err)
		}
	}
	if !target.within(zoneName) {
		return []string{prefix + ", but the alias target name does not lie within the target zone" + b.ownHint(target)}, nil
	}
	if sameZone && target.equal(owner) {
		return []string{prefix + ", but an alias record set cannot target its own name and type"}, nil
	}
	found := false
	if sameZone {
		sets, err := b.load(alias.DNSName)
		if err != nil {
			return nil, err
		}
		for k := range sets {
			found = found || k.typ == in.Type
		}
	} else {
		var one int
		err := b.tx.QueryRowContext(b.ctx, `SELECT 1 FROM zone_record_sets WHERE zone_id=? AND name=? AND type=? LIMIT 1`,
			alias.HostedZoneID, alias.DNSName, in.Type).Scan(&one)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		found = err == nil
	}
	if !found {
		return []string{prefix + ", but that target was not found"}, nil
	}
	return nil, nil
}

// ownHint points an alias whose target is an endpoint hostname, named with
// another zone ID, at Portico's own zone.
func (b *batchState) ownHint(target domainName) string {
	if b.own == nil {
		return ""
	}
	if ownName, err := parseName(b.own.Name); err == nil && target.within(ownName) {
		return "; Portico's endpoint hostnames are in hosted zone " + b.own.ID
	}
	return ""
}
