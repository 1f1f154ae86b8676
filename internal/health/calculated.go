package health

import (
	"context"
	"database/sql"
	"errors"
	"slices"
)

// checkCalculated validates a CALCULATED configuration: it names children
// and a threshold, and nothing a probe would use.
func checkCalculated(c Config) error {
	switch {
	case c.IPAddress != "" || c.Port != 0 || c.ResourcePath != "" || c.FullyQualifiedDomainName != "" || c.SearchString != "":
		return invalid("Health checks of type CALCULATED take no IPAddress, Port, ResourcePath, FullyQualifiedDomainName or SearchString: they are computed from their ChildHealthChecks")
	case c.HealthThreshold < 0 || c.HealthThreshold > MaxHealthThreshold:
		return invalid("1 validation error detected: Value '%d' at 'healthCheckConfig.healthThreshold' failed to satisfy constraint: Member must have value between 0 and %d", c.HealthThreshold, MaxHealthThreshold)
	case len(c.ChildHealthChecks) > MaxChildHealthChecks:
		return invalid("1 validation error detected: Value at 'healthCheckConfig.childHealthChecks' failed to satisfy constraint: Member must have length less than or equal to %d", MaxChildHealthChecks)
	}
	for i, id := range c.ChildHealthChecks {
		if id == "" || len(id) > 64 {
			return invalid("1 validation error detected: Value '%s' at 'healthCheckConfig.childHealthChecks.%d.member' failed to satisfy constraint: Member must have length between 1 and 64", id, i+1)
		}
		if slices.Contains(c.ChildHealthChecks[:i], id) {
			return invalid("ChildHealthChecks names %s twice", id)
		}
	}
	return nil
}

// checkChildren checks that every child exists and is not the check itself.
func checkChildren(ctx context.Context, tx *sql.Tx, self string, children []string) error {
	for _, id := range children {
		if id == self {
			return invalid("A CALCULATED health check cannot be its own child (%s)", id)
		}
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM health_checks WHERE id=?`, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return noSuch(id)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// recalc recomputes every CALCULATED check from its children's statuses and
// publishes the results. Callers hold c.mu. It reports whether any Healthy
// changed. Children that do not exist (deleted) count as unhealthy; a
// CALCULATED child counts with its own computed status, and a cycle of
// CALCULATED checks counts as unhealthy where it closes.
func (c *Checker) recalc() bool {
	if len(c.calculated) == 0 {
		return false
	}
	done := map[string]bool{}
	active := map[string]bool{}
	var eval func(id string) bool
	eval = func(id string) bool {
		cfg, ok := c.calculated[id]
		if !ok {
			st, known := c.status[id]
			return known && st.Healthy
		}
		if v, ok := done[id]; ok {
			return v
		}
		if active[id] {
			return false
		}
		active[id] = true
		healthy := int32(0)
		for _, child := range cfg.ChildHealthChecks {
			if eval(child) {
				healthy++
			}
		}
		delete(active, id)
		v := effective(cfg, healthy >= cfg.HealthThreshold)
		done[id] = v
		return v
	}
	changed := false
	for id := range c.calculated {
		st := c.status[id]
		st.Healthy = eval(id)
		if c.publish(id, &st) {
			changed = true
		}
	}
	return changed
}
