/**
 * `npm run deploy:rules`: deploy/components/service-monitor/prometheus-rule.yaml,
 * the alerting rules of deploy/monitoring/alerts.yaml as a PrometheusRule for
 * the Prometheus Operator. alerts.yaml is the one written by hand (promtool
 * checks and tests it, a plain Prometheus loads it); a test fails when the two
 * disagree.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parse, stringify } from 'yaml';
import { pathOf, projectFile } from '../src/paths.js';

export const ALERTS = projectFile('deploy/monitoring/alerts.yaml');
export const PROMETHEUS_RULE = projectFile('deploy/components/service-monitor/prometheus-rule.yaml');

/** The PrometheusRule holding the rule file's groups. */
export function prometheusRule(alerts: string): string {
  const rule = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: 'order-threads' },
    spec: parse(alerts) as unknown,
  };
  return `# Generated from deploy/monitoring/alerts.yaml by \`npm run deploy:rules\`: edit that file, not this one.\n${stringify(rule, { lineWidth: 0 })}`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(PROMETHEUS_RULE, prometheusRule(readFileSync(ALERTS, 'utf8')));
  console.log(`wrote ${pathOf(PROMETHEUS_RULE)}`);
}
