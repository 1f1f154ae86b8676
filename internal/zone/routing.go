package zone

import (
	"fmt"
	"strings"
)

// Routing policies of a record set, named as Route 53's messages name them.
const (
	PolicySimple     = "simple"
	PolicyWeighted   = "weighted"
	PolicyFailover   = "failover"
	PolicyMultiValue = "multivalue answer"
	PolicyLatency    = "latency"
)

// LatencyRegions are the values of a latency record set's Region: Route
// 53's ResourceRecordSetRegion enum, in the model's order (botocore
// route53 2013-04-01).
var LatencyRegions = []string{"us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "eu-west-1", "eu-west-2",
	"eu-west-3", "eu-central-1", "eu-central-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-northeast-1",
	"ap-northeast-2", "ap-northeast-3", "eu-north-1", "sa-east-1", "cn-north-1", "cn-northwest-1", "ap-east-1", "me-south-1",
	"me-central-1", "ap-south-1", "ap-south-2", "af-south-1", "eu-south-1", "eu-south-2", "ap-southeast-4", "il-central-1",
	"ca-west-1", "ap-southeast-5", "mx-central-1", "ap-southeast-7", "us-gov-east-1", "us-gov-west-1", "ap-east-2",
	"ap-southeast-6", "eusc-de-east-1"}

// IsLatencyRegion reports whether region is one of LatencyRegions.
func IsLatencyRegion(region string) bool {
	for _, r := range LatencyRegions {
		if r == region {
			return true
		}
	}
	return false
}

// Limits of routing policies.
const (
	MaxWeight = 255
	// MaxWeightedSets is how many weighted sets one name and type may hold.
	MaxWeightedSets = 100
)

// Policy returns the record set's routing policy.
func (r RecordSet) Policy() string {
	switch {
	case r.Failover != "":
		return PolicyFailover
	case r.Weight != nil:
		return PolicyWeighted
	case r.Region != "":
		return PolicyLatency
	case r.MultiValueAnswer:
		return PolicyMultiValue
	}
	return PolicySimple
}

// policyElements returns the routing-policy elements a change names, in
// Route 53's order. A MultiValueAnswer of false names no policy.
func (in RecordSetInput) policyElements() []string {
	var out []string
	if in.Weight != nil {
		out = append(out, "Weight")
	}
	if in.Region != "" {
		out = append(out, "Region")
	}
	if in.Failover != "" {
		out = append(out, "Failover")
	}
	if in.MultiValueAnswer != nil && *in.MultiValueAnswer {
		out = append(out, "MultiValueAnswer")
	}
	return out
}

// policy returns the routing policy of a change (after checkRouting).
func (in RecordSetInput) policy() string {
	return RecordSet{Failover: in.Failover, Weight: in.Weight, Region: in.Region,
		MultiValueAnswer: in.MultiValueAnswer != nil && *in.MultiValueAnswer}.Policy()
}

// multiValueTypes are the types a multivalue answer set may have (the
// Route 53 API reference), among those Portico serves.
var multiValueTypes = map[string]bool{"A": true, "AAAA": true, "MX": true, "PTR": true, "SRV": true, "TXT": true, "CAA": true}

// checkRouting applies Route 53's request-shape rules for routing policies
// and aliases to one change; member is its path in validation messages and
// where is the "in Change with [...]" tail of InvalidInput messages.
func checkRouting(rs RecordSetInput, member, where string) error {
	if rs.Weight != nil && (*rs.Weight < 0 || *rs.Weight > MaxWeight) {
		bound := "less than or equal to 255"
		if *rs.Weight < 0 {
			bound = "greater than or equal to 0"
		}
		return validationError("Value '%d' at '%s.resourceRecordSet.weight' failed to satisfy constraint: Member must have value %s", *rs.Weight, member, bound)
	}
	if rs.Region != "" && !IsLatencyRegion(rs.Region) {
		return validationError("Value '%s' at '%s.resourceRecordSet.region' failed to satisfy constraint: Member must satisfy enum value set: [%s]",
			rs.Region, member, strings.Join(LatencyRegions, ", "))
	}
	policies := rs.policyElements()
	switch {
	case len(policies) > 1:
		return invalidInput("Invalid request: Expected exactly one of [Weight, Region, Failover, GeoLocation, MultiValueAnswer, GeoProximityLocation, or CidrRoutingConfig], but found more than one in Change with %s", where)
	case len(policies) == 1 && rs.SetIdentifier == "":
		return invalidInput("Invalid request: Missing field 'SetIdentifier' in Change with %s", where)
	case len(policies) == 0 && rs.SetIdentifier != "":
		return invalidInput("Invalid request: Expected exactly one of [Weight, Region, Failover, GeoLocation, MultiValueAnswer, GeoProximityLocation, or CidrRoutingConfig], but found none in Change with %s", where)
	}
	policy := rs.policy()
	switch {
	case policy != PolicySimple && (rs.Type == "NS" || rs.Type == "SOA"):
		return invalidInput("Invalid request: %s record sets cannot have type %s in Change with %s", policy, rs.Type, where)
	case policy == PolicyMultiValue && !multiValueTypes[rs.Type]:
		return invalidInput("Invalid request: multivalue answer record sets cannot have type %s (allowed: A, AAAA, CAA, MX, PTR, SRV, TXT) in Change with %s", rs.Type, where)
	}
	if rs.Alias == nil {
		return nil
	}
	switch {
	case rs.Type == "NS" || rs.Type == "SOA":
		return invalidInput("Invalid request: alias record sets cannot have type %s in Change with %s", rs.Type, where)
	case policy == PolicyMultiValue:
		return invalidInput("Invalid request: multivalue answer record sets cannot be alias record sets in Change with %s", where)
	case policy == PolicyFailover && !rs.Alias.EvaluateTargetHealth:
		return invalidInput("Invalid request: failover alias record sets must set EvaluateTargetHealth to true in Change with %s", where)
	case rs.Alias.HostedZoneID == "":
		return validationError("Value null at '%s.resourceRecordSet.aliasTarget.hostedZoneId' failed to satisfy constraint: Member must not be null", member)
	case rs.Alias.DNSName == "":
		return validationError("Value null at '%s.resourceRecordSet.aliasTarget.dNSName' failed to satisfy constraint: Member must not be null", member)
	case len(StripIDPrefix(rs.Alias.HostedZoneID)) > 32:
		return validationError("Value '%s' at '%s.resourceRecordSet.aliasTarget.hostedZoneId' failed to satisfy constraint: Member must have length less than or equal to 32", rs.Alias.HostedZoneID, member)
	case len(rs.Alias.DNSName) > 1024:
		return validationError("Value at '%s.resourceRecordSet.aliasTarget.dNSName' failed to satisfy constraint: Member must have length less than or equal to 1024", member)
	}
	return nil
}

// policyConflict is the problem of putting a set of policy "policy" beside an
// existing set of policy "existing" with the same name and type, or "" when
// they may live together.
func policyConflict(name, typ, setID, policy, existing string) string {
	switch {
	case policy == existing:
		return ""
	case policy == PolicySimple:
		return fmt.Sprintf("RRSet with DNS name %s, type %s cannot be created as other RRSets exist with the same name and type.", name, typ)
	}
	// Route 53's observed wording for a weighted set beside a simple one is
	// "as a non-weighted set exists"; the same shape names the other policies.
	return fmt.Sprintf("RRSet with DNS name %s, type %s, SetIdentifier %s cannot be created as a non-%s set exists with the same name and type.", name, typ, setID, policy)
}
