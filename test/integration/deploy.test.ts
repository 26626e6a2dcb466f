/**
 * The deployment as it will run, checked by what runs here (Docker and a
 * cluster do not): deploy/'s overlays render with `kubectl kustomize` and
 * validate against the Kubernetes schemas (kubernetes-models); the rendered
 * manifests keep the rules the service needs of them; the container's
 * environment, as the kubelet would fill it in, is one the service accepts and
 * serves by (Prometheus scraping by the pod's IP included); the alerting rules
 * pass `promtool check` and their unit tests; and every metric the rules and
 * the dashboard name exists in a real /metrics scrape.
 *
 * kubectl and promtool are the machine's (.ci/run installs promtool): missing
 * here, their tests are skipped and say so; missing in CI (CI=true), they fail.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Service } from 'kubernetes-models/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { PROMETHEUS_RULE, prometheusRule } from '../../scripts/prometheus-rule.js';
import { loadConfig, type Config } from '../../src/config.js';
import { pathOf, projectFile, TYPESCRIPT_COMPILER } from '../../src/paths.js';
import { SERVICE_VERSION } from '../../src/version.js';
import { rawRequest, type RawResponse } from '../support/http.js';
import { expectAtRest } from '../support/leaks.js';
import { orderBody } from '../support/orders.js';
import { freshDatabase, POSTGRES_SKIPPED, POSTGRES_UNAVAILABLE, startTestPostgres } from '../support/postgres.js';
import { startTestService, type TestService } from '../support/service.js';

const DEPLOY = pathOf(projectFile('deploy/'));
const OVERLAYS = ['overlays/in-memory', 'overlays/durable'] as const;
const COMPONENTS = ['components/service-monitor'] as const;
const RULES = join(DEPLOY, 'monitoring/alerts.yaml');
/** The slow-burn cases have a file of their own: their own evaluation interval (see its head). */
const RULE_TESTS = ['alerts.test.yaml', 'alerts.slow-burn.test.yaml'].map((file) => join(DEPLOY, 'monitoring', file));
const DASHBOARD = join(DEPLOY, 'monitoring/dashboard.json');

/** Where a tool is missing: undefined if it runs. */
function missing(tool: string): string | undefined {
  const { error } = spawnSync(tool, ['--help'], { stdio: 'ignore' });
  return error ? `${tool} is not installed` : undefined;
}
/** A test needing `tool`: skipped, saying so, where it is missing — but never in CI, which installs what it needs. */
function needing(tool: string): { run: ReturnType<typeof it.skipIf>; note: string } {
  const why = process.env['CI'] ? undefined : missing(tool);
  return { run: it.skipIf(why !== undefined), note: why ? ` — SKIPPED: ${why}` : '' };
}
const kubectl = needing('kubectl');
const promtool = needing('promtool');

function run(command: string, args: readonly string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${result.stdout}${result.stderr}`);
  return result.stdout;
}

type Manifest = { apiVersion: string; kind: string; metadata: { name: string }; spec: Record<string, unknown> };

/** An overlay rendered, with the components given (as an operator's own kustomization would add them). */
function render(overlay: string, components: readonly string[] = []): Manifest[] {
  let root = join(DEPLOY, overlay);
  let scratch: string | undefined;
  if (components.length > 0) {
    scratch = mkdtempSync(join(tmpdir(), 'kustomization-'));
    const from = (path: string): string => relative(scratch!, join(DEPLOY, path));
    writeFileSync(
      join(scratch, 'kustomization.yaml'),
      `resources: [${from(overlay)}]\ncomponents: [${components.map(from).join(', ')}]\n`,
    );
    root = scratch;
  }
  try {
    return parseAllDocuments(run('kubectl', ['kustomize', root])).map((document) => document.toJS() as Manifest);
  } finally {
    if (scratch) rmSync(scratch, { recursive: true });
  }
}

/**
 * The TypeScript type of each kind (kubernetes-models' own): the schemas above let a field they do not know through
 * (Kubernetes' OpenAPI does not close its objects), but an object literal of one of these types may hold no other.
 */
const TYPES: Record<string, { readonly from: string; readonly type: string }> = {
  'apps/v1 Deployment': { from: 'kubernetes-models/apps/v1/Deployment', type: 'IDeployment' },
  'v1 Service': { from: 'kubernetes-models/v1/Service', type: 'IService' },
  'policy/v1 PodDisruptionBudget': {
    from: 'kubernetes-models/policy/v1/PodDisruptionBudget',
    type: 'IPodDisruptionBudget',
  },
  'monitoring.coreos.com/v1 ServiceMonitor': {
    from: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor',
    type: 'IServiceMonitor',
  },
  'monitoring.coreos.com/v1 PrometheusRule': {
    from: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule',
    type: 'IPrometheusRule',
  },
};

/** The schema of each kind deploy/ may hold: a kind without one is an error, not a pass. */
const SCHEMAS: Record<string, (manifest: Manifest) => { validate(): void }> = {
  'apps/v1 Deployment': (manifest) => new Deployment(manifest as never),
  'v1 Service': (manifest) => new Service(manifest),
  'policy/v1 PodDisruptionBudget': (manifest) => new PodDisruptionBudget(manifest),
  'monitoring.coreos.com/v1 ServiceMonitor': (manifest) => new ServiceMonitor(manifest as never),
  'monitoring.coreos.com/v1 PrometheusRule': (manifest) => new PrometheusRule(manifest),
};

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    resourceFieldRef?: { containerName?: string; resource: string; divisor?: string };
    secretKeyRef?: unknown;
  };
}
interface Probe {
  httpGet?: { path: string; port: string | number };
  periodSeconds?: number;
  failureThreshold?: number;
  timeoutSeconds?: number;
}
interface Container {
  name: string;
  image: string;
  env?: EnvVar[];
  ports?: Array<{ name?: string; containerPort: number }>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop?: { sleep?: { seconds: number }; exec?: { command: string[] } } };
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    privileged?: boolean;
    capabilities?: { drop?: string[] };
  };
  volumeMounts?: Array<{ name: string; mountPath: string; subPath?: string }>;
}
interface PodSpec {
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  containers: Container[];
  volumes?: Array<{ name: string; secret?: { secretName: string }; emptyDir?: unknown }>;
}

const one = (manifests: Manifest[], kind: string): Manifest => {
  const found = manifests.filter((manifest) => manifest.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0]!;
};
const podOf = (deployment: Manifest): PodSpec => (deployment.spec as { template: { spec: PodSpec } }).template.spec;
const envOf = (container: Container, name: string): EnvVar | undefined =>
  container.env?.find((variable) => variable.name === name);

/** Kubernetes CPU quantities: "2", "1500m". */
function cpuCores(quantity: string): number {
  return quantity.endsWith('m') ? Number(quantity.slice(0, -1)) / 1000 : Number(quantity);
}

/** The pod and the node as the kubelet would describe them, for the downward API. */
const POD = { ip: '10.1.2.3', namespace: 'shop' };

/**
 * The container's environment as the kubelet fills it in: the downward API's
 * values, `$(VAR)` expanded from the variables before it, and every file the
 * container reads from a mounted Secret moved under `mounts` (what each mount
 * path stands for), plus what the kubelet sets in every container.
 */
function environmentOf(container: Container, mounts: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { KUBERNETES_SERVICE_HOST: '10.96.0.1' };
  for (const variable of container.env ?? []) {
    let value: string;
    if (variable.value !== undefined) {
      value = variable.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env[name] ?? whole);
    } else if (variable.valueFrom?.fieldRef) {
      const field = variable.valueFrom.fieldRef.fieldPath;
      value = { 'status.podIP': POD.ip, 'metadata.namespace': POD.namespace }[field] ?? '';
      expect(value, `the downward API's ${field}`).not.toBe('');
    } else if (variable.valueFrom?.resourceFieldRef) {
      const { resource, divisor = '1' } = variable.valueFrom.resourceFieldRef;
      const limit = container.resources?.limits?.[resource.replace(/^limits\./, '')];
      expect(limit, `${variable.name}: the container's ${resource}`).toBeDefined();
      // The kubelet rounds up to a whole number of divisors.
      value = String(Math.ceil(cpuCores(limit!) / cpuCores(divisor)));
    } else throw new Error(`${variable.name}: no value the test knows how to fill in`);
    for (const [mountPath, local] of Object.entries(mounts))
      if (value.startsWith(`${mountPath}/`)) value = join(local, value.slice(mountPath.length + 1));
    env[variable.name] = value;
  }
  return env;
}

const ADMIN_KEY = 'admin-key-for-the-deploy-test-0123456789';
const METRICS_KEY = 'prometheus-own-admin-key-0123456789abcdef';
const CLIENT_KEY = 'shop-key-for-the-deploy-test-0123456789ab';

/** The Secrets the operator creates (docs/deploying.md), written where the pod would mount them. */
function writeSecrets(pod: PodSpec, container: Container, root: string): Record<string, string> {
  const contents: Record<string, Record<string, string>> = {
    'order-threads-keys': {
      'api-keys': `# client:key, one a line\nshop:${CLIENT_KEY}\n`,
      'admin-keys': `${ADMIN_KEY}\n${METRICS_KEY}\n`,
      'metrics-key': METRICS_KEY,
    },
    'order-threads-database': { url: 'postgres://orders:secret@postgres.shop.svc:5432/orders\n' },
  };
  const mounts: Record<string, string> = {};
  for (const mount of container.volumeMounts ?? []) {
    const secret = pod.volumes?.find((volume) => volume.name === mount.name)?.secret;
    if (!secret) continue;
    const folder = join(root, mount.name);
    mkdirSync(folder, { recursive: true });
    for (const [file, text] of Object.entries(contents[secret.secretName] ?? {}))
      writeFileSync(join(folder, file), text);
    mounts[mount.mountPath] = folder;
  }
  return mounts;
}

const scratch = mkdtempSync(join(tmpdir(), 'deploy-test-'));
let svc: TestService | undefined;
afterAll(async () => {
  rmSync(scratch, { recursive: true, force: true });
});

describe(`the Kubernetes manifests${kubectl.note}`, () => {
  kubectl.run.each([
    ...OVERLAYS.map((overlay) => [overlay, []] as const),
    ...COMPONENTS.map((component) => ['overlays/durable', [component]] as const),
  ])('%s (components: %j) renders and every object validates against its schema', (overlay, components) => {
    const manifests = render(overlay, components);
    expect(manifests.length).toBeGreaterThan(0);
    for (const manifest of manifests) {
      const schema = SCHEMAS[`${manifest.apiVersion} ${manifest.kind}`];
      expect(schema, `a schema for ${manifest.apiVersion} ${manifest.kind}`).toBeDefined();
      expect(() => schema!(manifest).validate(), `${manifest.kind} ${manifest.metadata.name}`).not.toThrow();
    }
  });

  kubectl.run(
    'holds no field Kubernetes does not know (a misspelt one would be dropped by the API server, unseen)',
    { timeout: 60_000 },
    () => {
      const rendered = [
        ...OVERLAYS.map((overlay) => render(overlay)),
        ...COMPONENTS.map((component) => render('overlays/durable', [component])),
      ].flat();
      const kinds = [...new Set(rendered.map((manifest) => `${manifest.apiVersion} ${manifest.kind}`))];
      const imports = kinds.map((kind) => {
        const { from, type } = TYPES[kind] ?? { from: '', type: '' };
        expect(from, `a type for ${kind}`).not.toBe('');
        return `import type { ${type} } from '${from}';`;
      });
      const literals = rendered.map(
        (manifest, i) =>
          `export const m${i}: ${TYPES[`${manifest.apiVersion} ${manifest.kind}`]!.type} = ${JSON.stringify(manifest)};`,
      );
      // Inside the project, for the types to resolve from its node_modules.
      const scratchRoot = pathOf(projectFile('.scratch/'));
      mkdirSync(scratchRoot, { recursive: true });
      const folder = mkdtempSync(join(scratchRoot, 'deploy-types-'));
      try {
        const file = join(folder, 'manifests.ts');
        writeFileSync(file, [...imports, ...literals].join('\n'));
        const tsc = spawnSync(
          process.execPath,
          [
            pathOf(TYPESCRIPT_COMPILER),
            ...['--ignoreConfig', '--noEmit', '--strict', '--skipLibCheck', '--target', 'es2022'],
            ...['--module', 'nodenext', '--moduleResolution', 'nodenext', file],
          ],
          { encoding: 'utf8' },
        );
        expect(tsc.stdout + tsc.stderr).toBe('');
        expect(tsc.status).toBe(0);
      } finally {
        rmSync(folder, { recursive: true });
      }
    },
  );

  kubectl.run.each(OVERLAYS)('%s keeps the rules a pod of this service needs', (overlay) => {
    const manifests = render(overlay);
    const deployment = one(manifests, 'Deployment');
    const pod = podOf(deployment);
    const [container] = pod.containers;
    expect(pod.containers).toHaveLength(1);
    const c = container!;
    const replicas = (deployment.spec as { replicas: number }).replicas;
    // The image of this version (an operator's overlay names the registry).
    expect(c.image).toBe(`order-threads:${SERVICE_VERSION}`);
    expect(replicas).toBe(overlay === 'overlays/in-memory' ? 1 : 3);

    // Probes: readiness /readyz, liveness /healthz, a startup probe (that these routes answer: below).
    expect(c.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(c.livenessProbe?.httpGet?.path).toBe('/healthz');
    expect(c.startupProbe?.httpGet?.path).toBe('/healthz');
    const port = c.ports?.find((each) => each.name === c.readinessProbe?.httpGet?.port);
    expect(port?.containerPort).toBe(Number(envOf(c, 'PORT')?.value));

    // The grace covers a preStop sleep (if any), the drain delay, the drain and the process's 1 s backstop.
    const drainDelayMs = Number(envOf(c, 'DRAIN_DELAY_MS')?.value);
    const shutdownTimeoutMs = Number(envOf(c, 'SHUTDOWN_TIMEOUT_MS')?.value);
    expect(drainDelayMs).toBeGreaterThan(0);
    expect(shutdownTimeoutMs).toBeGreaterThan(0);
    const preStopSeconds = c.lifecycle?.preStop?.sleep?.seconds ?? 0;
    expect(c.lifecycle?.preStop?.exec, 'a preStop sleep, if any, as the sleep action (counted here)').toBeUndefined();
    const drainSeconds = (drainDelayMs + shutdownTimeoutMs + 1000) / 1000;
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(preStopSeconds + drainSeconds);
    // Liveness never restarts a pod mid-drain: its failures take longer than the drain (the listener closes in it).
    const live = c.livenessProbe!;
    expect((live.periodSeconds ?? 10) * (live.failureThreshold ?? 3)).toBeGreaterThan(drainSeconds);

    // Non-root, no privilege escalation, no capabilities, a read-only root filesystem.
    expect(pod.securityContext?.runAsNonRoot).toBe(true);
    expect(pod.securityContext?.runAsUser).toBeGreaterThan(0);
    expect(c.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(c.securityContext?.privileged).not.toBe(true);

    // Requests and limits, and THREADS from the CPU limit.
    for (const resource of ['cpu', 'memory']) {
      expect(c.resources?.requests?.[resource], `requests.${resource}`).toBeDefined();
      expect(c.resources?.limits?.[resource], `limits.${resource}`).toBeDefined();
    }
    expect(envOf(c, 'THREADS')?.valueFrom?.resourceFieldRef).toMatchObject({
      containerName: c.name,
      resource: 'limits.cpu',
    });

    // ALLOWED_HOSTS names the pod's IP, from the downward API, defined before it (for $(POD_IP) to expand).
    const names = (c.env ?? []).map((variable) => variable.name);
    const podIp = names.indexOf('POD_IP');
    expect(envOf(c, 'POD_IP')?.valueFrom?.fieldRef?.fieldPath).toBe('status.podIP');
    expect(podIp).toBeLessThan(names.indexOf('ALLOWED_HOSTS'));
    expect(envOf(c, 'ALLOWED_HOSTS')?.value?.split(',')).toContain('$(POD_IP)');

    // Secrets as files from mounted Secrets (whole folders: a subPath never sees a change), never as variables.
    for (const name of ['API_KEYS', 'ADMIN_KEY', 'DATABASE_URL']) expect(envOf(c, name), name).toBeUndefined();
    const files = ['API_KEYS_FILE', 'ADMIN_KEY_FILE', ...(overlay === 'overlays/durable' ? ['DATABASE_URL_FILE'] : [])];
    for (const name of files) {
      const path = envOf(c, name)?.value ?? '';
      const mount = c.volumeMounts?.find((each) => each.mountPath === dirname(path));
      expect(mount, `${name}'s folder is a mount`).toBeDefined();
      expect(mount?.subPath).toBeUndefined();
      expect(pod.volumes?.find((volume) => volume.name === mount?.name)?.secret, `${name}: a Secret`).toBeDefined();
    }
    // Where the root filesystem is read-only, /tmp is writable.
    expect(c.volumeMounts?.some((mount) => mount.mountPath === '/tmp')).toBe(true);

    // The Service reaches the pods by the probes' port; the PDB selects them and lets one go.
    const labels = (deployment.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata
      .labels;
    const service = one(manifests, 'Service').spec as {
      selector: Record<string, string>;
      ports: Array<{ targetPort: string }>;
    };
    expect(labels).toMatchObject(service.selector);
    expect(service.ports.map((each) => each.targetPort)).toContain(port?.name);
    const budget = one(manifests, 'PodDisruptionBudget').spec as {
      selector: { matchLabels: Record<string, string> };
      minAvailable?: number;
      maxUnavailable?: number;
    };
    expect(labels).toMatchObject(budget.selector.matchLabels);
    const allowed = budget.maxUnavailable ?? replicas - (budget.minAvailable ?? replicas);
    expect(allowed, 'a PDB that allows no disruption would hold a node drain forever').toBeGreaterThan(0);
    // With several replicas, never all at once: some keep serving.
    if (replicas > 1) expect(allowed).toBeLessThan(replicas);
  });

  kubectl.run.each(OVERLAYS)(
    "%s: the container's environment is one the service accepts, and serves probes and a scrape by the pod's IP",
    async (overlay) => {
      const deployment = one(render(overlay), 'Deployment');
      const pod = podOf(deployment);
      const container = pod.containers[0]!;
      const mounts = writeSecrets(pod, container, join(scratch, overlay));
      const env = environmentOf(container, mounts);
      let config: Config;
      try {
        config = loadConfig(env, { openFileLimit: 65_536 });
      } catch (error) {
        throw new Error(`the pod's environment is refused: ${(error as Error).message}`, { cause: error });
      }
      expect(config.threads).toBe(2);
      expect(config.host).toBe('0.0.0.0');
      expect(config.access.mode).toBe('keys');
      expect(config.allowedHosts).toContain(POD.ip);
      expect(config.allowedHosts).toContain(`order-threads.${POD.namespace}.svc`);
      expect(Boolean(config.durable)).toBe(overlay === 'overlays/durable');
      if (overlay === 'overlays/durable') return; // serving on Postgres: the durable tests' business

      // Served as configured, but on loopback: the Host header says what the kubelet and Prometheus would send.
      svc = await startTestService({ config: { ...config, host: '127.0.0.1', port: 0, logLevel: 'silent' } });
      try {
        // Node's client sends the Host header it is given (fetch would replace it with the URL's).
        const get = (path: string, host: string, key?: string): Promise<RawResponse> =>
          rawRequest(svc!.url, {
            method: 'GET',
            path,
            headers: { host, ...(key ? { authorization: `Bearer ${key}` } : {}) },
          });
        const at = `${POD.ip}:${container.ports?.[0]?.containerPort}`;
        for (const probe of [container.readinessProbe, container.livenessProbe, container.startupProbe])
          expect((await get(probe!.httpGet!.path, at)).status, probe!.httpGet!.path).toBe(200);
        // Prometheus, by the pod's IP, with its own admin key (the ServiceMonitor's metrics-key).
        const scrape = await get('/metrics', at, METRICS_KEY);
        expect(scrape.status).toBe(200);
        expect(scrape.text).toContain('orders_total');
        // No secret in what Prometheus keeps.
        for (const key of [ADMIN_KEY, METRICS_KEY, CLIENT_KEY]) expect(scrape.text).not.toContain(key.slice(0, 16));
        expect((await get('/metrics', `10.9.9.9:8080`, METRICS_KEY)).status).toBe(421);
        await expectAtRest(svc, 2);
      } finally {
        await svc.shutdown();
        svc = undefined;
      }
    },
  );
});

/** Words of PromQL that are not metric names. */
const PROMQL_WORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/** The metric names a PromQL expression reads. */
function metricNamesIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\b\d+(\.\d+)?(e[+-]?\d+)?\b/gi, ' ');
  return [...bare.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?/g)]
    .filter((match) => match[2] === undefined && !PROMQL_WORDS.has(match[1]!.toLowerCase()))
    .map((match) => match[1]!);
}

interface RuleFile {
  groups: Array<{
    rules: Array<{ record?: string; alert?: string; expr: string; annotations?: Record<string, string> }>;
  }>;
}
const rules = (): RuleFile => parse(readFileSync(RULES, 'utf8')) as RuleFile;

describe(`the alerting rules${promtool.note}`, () => {
  promtool.run(
    'pass promtool check rules and their unit tests (promtool test rules)',
    () => {
      expect(run('promtool', ['check', 'rules', RULES])).toContain('SUCCESS');
      expect(run('promtool', ['test', 'rules', ...RULE_TESTS])).toContain('SUCCESS');
      // A day and more of rules evaluated each minute: 11-16 s here.
    },
    120_000,
  );

  it("are the Prometheus Operator's PrometheusRule too, as `npm run deploy:rules` writes it", () => {
    expect(readFileSync(PROMETHEUS_RULE, 'utf8'), 'run npm run deploy:rules').toBe(
      prometheusRule(readFileSync(RULES, 'utf8')),
    );
  });

  it('each alert has a runbook section in docs/runbooks.md, linked by its runbook_url annotation (the convention)', () => {
    const runbooks = readFileSync(pathOf(projectFile('docs/runbooks.md')), 'utf8');
    const alerts = rules().groups.flatMap((group) => group.rules.filter((rule) => rule.alert !== undefined));
    expect(alerts.length).toBeGreaterThan(5);
    for (const { alert, annotations } of alerts) {
      expect(runbooks, alert).toMatch(new RegExp(`^## ${alert}$`, 'm'));
      expect(annotations, alert).toMatchObject({ runbook_url: `docs/runbooks.md#${alert!.toLowerCase()}` });
      expect(Object.keys(annotations ?? {}), alert).not.toContain('runbook');
    }
  });

  it('reads metric names out of PromQL', () => {
    expect(
      metricNamesIn(
        '(sum(rate(a_total{job="x",status=~"5.."}[5m])) or vector(0)) / sum by (le) (b_bucket) > 14.4 * 0.001 and c:rec',
      ),
    ).toEqual(['a_total', 'b_bucket', 'c:rec']);
  });
});

/** The metric names a scrape exposes: every family declared, and a histogram's and a summary's series. */
function exposed(text: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name!);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
    if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return names;
}

/** Made by Prometheus itself for every target, never in a scrape. */
const PROMETHEUS_OWN = new Set(['up']);

describe.skipIf(POSTGRES_UNAVAILABLE !== undefined)(
  `the metrics the rules and the dashboard name${POSTGRES_SKIPPED}`,
  () => {
    it('each exists in a real /metrics scrape of the durable service (which has every metric the in-memory one has)', async () => {
      const server = await startTestPostgres();
      try {
        const url = await freshDatabase(server);
        svc = await startTestService({ config: { durable: { databaseUrl: url, leaseMs: 3000, poolSize: 4 } } });
        expect((await svc.order(orderBody())).status).toBe(200);
        const scraped = exposed(await (await fetch(new URL('/metrics', svc.url))).text());
        await expectAtRest(svc, 2);
        await svc.shutdown();
        svc = undefined;

        const ruleExprs = rules().groups.flatMap((group) => group.rules);
        const recorded = new Set(ruleExprs.flatMap((rule) => (rule.record ? [rule.record] : [])));
        const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
          panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
        };
        const named = [
          ...ruleExprs.map((rule) => ({ where: rule.record ?? rule.alert!, expr: rule.expr })),
          ...dashboard.panels.flatMap((panel) => panel.targets.map(({ expr }) => ({ where: panel.title, expr }))),
        ].flatMap(({ where, expr }) => metricNamesIn(expr).map((name) => ({ where, name })));
        expect(named.length).toBeGreaterThan(20);
        const unknown = named.filter(
          ({ name }) => !scraped.has(name) && !recorded.has(name) && !PROMETHEUS_OWN.has(name),
        );
        expect(unknown).toEqual([]);
      } finally {
        await svc?.shutdown();
        svc = undefined;
        await server.stop();
      }
    });
  },
);
