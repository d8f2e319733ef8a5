// Checks deploy/kubernetes as kubectl apply -k would see it, without a
// cluster: each kustomization's resources and generated ConfigMaps, every
// object against the Kubernetes API schemas (npm kubernetes-models) and
// the agent-sandbox objects against that project's CRDs (vendored in
// test/deploy/agent-sandbox-crds), strictly: a field the schema does not
// know is an error, as with kubectl --validate=strict. Then what the
// manifests promise: every zone pod on the edera RuntimeClass with its own
// service account, non-root with a read-only root, requests and limits,
// every file a command or the gateway config names mounted from where it
// is made, the gateway config's zones matching the accounts and Services,
// probes through gatewayctl, and NetworkPolicies under which the gateway
// is the only path between agent and tool pods.
// Usage: node k8s_check.mjs SOURCE_DIR OUT_DIR
// Writes OUT_DIR/commands.tsv (each container command, exec probe and
// the Containerfile's CMD, tab-separated, for the flag check),
// OUT_DIR/servers.txt (the agents' hosted-server files) and
// OUT_DIR/gateway.json (the path of the gateway config). Exit 1 on any
// problem, each printed as FILE: what. The set the kustomization builds
// is checked as a set too: each kind/namespace/name once, and every
// ConfigMap and Secret a pod refers to in it or made by prepare.sh.
import { readFileSync, readdirSync, statSync, writeFileSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [SRC, OUT] = process.argv.slice(2).map(p => path.resolve(p));
// The npm tools of test/node (package.json there pins them).
const NM = path.join(SRC, "test/node/node_modules");
const require = createRequire(NM + "/");
const YAML = require("yaml");
const Ajv = require("ajv").default;
const schema = name => import(pathToFileURL(path.join(NM, `kubernetes-models/_schemas/${name}.js`)).href);
const K8S = path.join(SRC, "deploy/kubernetes");
let problems = 0;
const problem = (where, what) => {
	problems++;
	console.log(`FAIL: ${path.relative(SRC, where) || where}: ${what}`);
};

// ---- kustomize, the parts these manifests use -------------------------
// Returns {objects: [{obj, file}], configMaps: Map name -> Set of keys,
// namespace, files: Set of files read}.
function kustomize(dir) {
	const kfile = path.join(dir, "kustomization.yaml");
	const k = YAML.parse(readFileSync(kfile, "utf8"), { uniqueKeys: true });
	const known = new Set(["apiVersion", "kind", "namespace", "resources",
		"configMapGenerator", "images"]);
	for (const key of Object.keys(k))
		if (!known.has(key)) problem(kfile, `key ${key} is not checked here`);
	const out = { objects: [], configMaps: new Map(), namespace: k.namespace,
		files: new Set([kfile]), images: new Set() };
	for (const r of k.resources ?? []) {
		const p = path.join(dir, r);
		if (!existsSync(p)) { problem(kfile, `resource ${r} does not exist`); continue; }
		if (statSync(p).isDirectory()) {
			const sub = kustomize(p);
			out.objects.push(...sub.objects);
			for (const [n, keys] of sub.configMaps) out.configMaps.set(n, keys);
			for (const f of sub.files) out.files.add(f);
			for (const i of sub.images) out.images.add(i);
			continue;
		}
		out.files.add(p);
		const docs = YAML.parseAllDocuments(readFileSync(p, "utf8"), { uniqueKeys: true });
		for (const d of docs) {
			if (d.errors.length) { problem(p, d.errors[0].message); continue; }
			const obj = d.toJS({ maxAliasCount: 0 });
			if (obj !== null) out.objects.push({ obj, file: p });
		}
	}
	for (const g of k.configMapGenerator ?? []) {
		const keys = new Set();
		for (const f of g.files ?? []) {
			const p = path.join(dir, f);
			if (!existsSync(p)) problem(kfile, `configMapGenerator ${g.name}: no file ${f}`);
			out.files.add(p);
			keys.add(path.basename(f));
		}
		out.configMaps.set(g.name, keys);
	}
	for (const i of k.images ?? []) out.images.add(i.name);
	for (const o of out.objects)
		if (k.namespace && o.obj.kind !== "Namespace" && o.obj.kind !== "RuntimeClass") {
			o.obj.metadata ??= {};
			o.obj.metadata.namespace = k.namespace;
		}
	return out;
}

// ---- strict schema validation -----------------------------------------
// The compiled kubernetes-models validators read each property they know
// by name and enumerate the keys of maps (labels, annotations); wrapping
// the object in proxies that record this finds the keys no schema read:
// unknown fields.
function strictValidate(validate, data) {
	const seen = new Map(); // target -> {path, keys: Set | "all"}
	const proxies = new WeakMap();
	const wrap = (v, p) => {
		if (v === null || typeof v !== "object") return v;
		if (proxies.has(v)) return proxies.get(v);
		const rec = { path: p, keys: new Set() };
		if (!Array.isArray(v)) seen.set(v, rec);
		const px = new Proxy(v, {
			get(t, k) {
				if (typeof k === "string" && rec.keys !== "all") rec.keys.add(k);
				const child = t[k];
				return typeof k === "string" ? wrap(child, `${p}/${k}`) : child;
			},
			has(t, k) {
				if (typeof k === "string" && rec.keys !== "all") rec.keys.add(k);
				return k in t;
			},
			ownKeys(t) { rec.keys = "all"; return Reflect.ownKeys(t); },
		});
		proxies.set(v, px);
		return px;
	};
	const ok = validate(wrap(data, ""));
	const errs = ok ? [] : validate.errors.map(e => `${e.instancePath} ${e.message ?? e.keyword}`);
	for (const [t, rec] of seen) {
		if (rec.keys === "all") continue;
		for (const k of Object.keys(t))
			if (!rec.keys.has(k)) errs.push(`${rec.path}/${k}: unknown field`);
	}
	return errs;
}

const schemaName = (apiVersion, kind) => {
	const [g, v] = apiVersion.includes("/") ? apiVersion.split("/") : ["core", apiVersion];
	const cap = s => s[0].toUpperCase() + s.slice(1);
	return `IoK8sApi${cap(g.split(".")[0])}${cap(v)}${kind}`;
};
async function builtinValidator(apiVersion, kind) {
	const mod = await schema(schemaName(apiVersion, kind)).catch(() => null);
	return mod?.validate;
}

// The CRDs' served versions as JSON schemas in which every object that
// lists its properties and does not say otherwise admits no other.
const crdDir = path.join(SRC, "test/deploy/agent-sandbox-crds");
const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false, logger: false });
const crdValidators = new Map();
function closeObjects(s) {
	if (Array.isArray(s)) { s.forEach(closeObjects); return; }
	if (s === null || typeof s !== "object") return;
	if (s.properties && !("additionalProperties" in s) &&
	    !s["x-kubernetes-preserve-unknown-fields"])
		s.additionalProperties = false;
	Object.values(s).forEach(closeObjects);
}
for (const f of readdirSync(crdDir).filter(f => f.endsWith(".yaml"))) {
	const crd = YAML.parse(readFileSync(path.join(crdDir, f), "utf8"));
	for (const v of crd.spec.versions) {
		if (!v.served) continue;
		const s = structuredClone(v.schema.openAPIV3Schema);
		closeObjects(s);
		crdValidators.set(`${crd.spec.group}/${v.name} ${crd.spec.names.kind}`,
			{ validate: ajv.compile(s), deprecated: v.deprecated });
	}
}
const { validate: validateMeta } = await import(pathToFileURL(path.join(NM,
	"@kubernetes-models/apimachinery/_schemas/IoK8sApimachineryPkgApisMetaV1ObjectMeta.js")).href);

async function validateObject({ obj, file }) {
	const id = `${obj.kind}/${obj.metadata?.name}`;
	if (!obj.apiVersion || !obj.kind) { problem(file, "an object without apiVersion or kind"); return; }
	const crd = crdValidators.get(`${obj.apiVersion} ${obj.kind}`);
	let errs;
	if (crd) {
		if (crd.deprecated) problem(file, `${id}: ${obj.apiVersion} is deprecated`);
		errs = crd.validate(obj) ? [] :
			crd.validate.errors.map(e => `${e.instancePath} ${e.message}` +
				(e.params?.additionalProperty ? ` (${e.params.additionalProperty})` : ""));
		errs.push(...strictValidate(validateMeta, obj.metadata).map(e => `/metadata${e}`));
	} else {
		const v = await builtinValidator(obj.apiVersion, obj.kind);
		if (!v) { problem(file, `${id}: no schema for ${obj.apiVersion} ${obj.kind}`); return; }
		errs = strictValidate(v, obj);
	}
	for (const e of errs) problem(file, `${id}: ${e}`);
}

// ---- what the manifests promise -----------------------------------------
const podOf = o => ({
	Deployment: o.spec?.template, Job: o.spec?.template, Sandbox: o.spec?.podTemplate,
	SandboxTemplate: o.spec?.podTemplate,
})[o.kind];

function labelsMatch(sel, labels) {
	if (!sel) return false;
	for (const [k, v] of Object.entries(sel.matchLabels ?? {}))
		if (labels[k] !== v) return false;
	for (const e of sel.matchExpressions ?? []) {
		const has = e.key in labels;
		if (e.operator === "In" && !(has && e.values.includes(labels[e.key]))) return false;
		if (e.operator === "NotIn" && has && e.values.includes(labels[e.key])) return false;
		if (e.operator === "Exists" && !has) return false;
		if (e.operator === "DoesNotExist" && has) return false;
	}
	return true;
}

// Whether a NetworkPolicy peer list admits a pod of the namespace (pod
// IPs are taken to lie in the private ranges the ipBlocks except).
const peerAdmits = (peers, labels) => peers === undefined ||
	peers.some(p => p.podSelector && !p.namespaceSelector && labelsMatch(p.podSelector, labels));
const portAdmits = (ports, port) => ports === undefined ||
	ports.some(p => (p.protocol ?? "TCP") === "TCP" && p.port === port);
function allowed(policies, from, to, port) {
	const dir = (pod, type, rulesKey, peerKey, other) => {
		const sel = policies.filter(np => labelsMatch(np.spec.podSelector, pod) &&
			(np.spec.policyTypes ?? ["Ingress"]).includes(type));
		if (!sel.length) return true;
		return sel.some(np => (np.spec[rulesKey] ?? []).some(r =>
			peerAdmits(r[peerKey], other) && portAdmits(r.ports, port)));
	};
	return dir(from, "Egress", "egress", "to", to) && dir(to, "Ingress", "ingress", "from", from);
}

const commands = [];
function checkForm(dir) {
	const k = kustomize(dir);
	const where = path.join(dir, "kustomization.yaml");
	const all = k.objects.map(o => o.obj);
	const named = kind => new Map(all.filter(o => o.kind === kind).map(o => [o.metadata.name, o]));
	const accounts = named("ServiceAccount");
	const services = named("Service");
	const sandboxes = named("Sandbox");
	const pvcs = named("PersistentVolumeClaim");
	const prepare = readFileSync(path.join(K8S, "prepare.sh"), "utf8");
	const set = buildSet(where, all, k, prepare);

	const rc = all.find(o => o.kind === "RuntimeClass");
	if (!rc || rc.metadata.name !== "edera" || rc.handler !== "edera" ||
	    rc.scheduling?.nodeSelector?.runtime !== "edera")
		problem(where, "no RuntimeClass edera with handler edera and nodeSelector runtime=edera");

	const gwConfigPath = path.join(K8S, "base/gateway.json");
	const gw = JSON.parse(readFileSync(gwConfigPath, "utf8"));
	const pods = [];
	const accountUse = new Map();
	for (const o of all) {
		const t = podOf(o);
		if (!t) continue;
		const id = `${o.kind}/${o.metadata.name}`;
		const spec = t.spec, labels = t.metadata?.labels ?? {};
		pods.push({ id, o, spec, labels });
		if (o.kind === "Deployment" && !labelsMatch(o.spec.selector, labels))
			problem(where, `${id}: its selector does not select its pods`);
		if (spec.runtimeClassName !== "edera") problem(where, `${id}: runtimeClassName is not edera`);
		const sa = spec.serviceAccountName;
		if (!sa || !accounts.has(sa)) problem(where, `${id}: service account ${sa} is not defined`);
		if (accountUse.has(sa)) problem(where, `${id}: shares service account ${sa} with ${accountUse.get(sa)}`);
		accountUse.set(sa, id);
		if (spec.automountServiceAccountToken !== false && accounts.get(sa)?.automountServiceAccountToken !== false)
			problem(where, `${id}: mounts an API token`);
		const psc = spec.securityContext ?? {};
		if (psc.runAsNonRoot !== true || !(psc.runAsUser > 0))
			problem(where, `${id}: not runAsNonRoot with a non-zero runAsUser`);
		const vols = new Map((spec.volumes ?? []).map(v => [v.name, v]));
		checkRefs(where, id, spec, k, set);
		for (const v of vols.values()) {
			if (v.persistentVolumeClaim && !pvcs.has(v.persistentVolumeClaim.claimName))
				problem(where, `${id}: no PersistentVolumeClaim ${v.persistentVolumeClaim.claimName}`);
			for (const s of v.projected?.sources ?? []) {
				if (s.serviceAccountToken && s.serviceAccountToken.audience !== gw.listeners[0].k8s?.audience)
					problem(where, `${id}: token audience ${s.serviceAccountToken.audience} is not the listener's`);
			}
		}
		for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
			const cid = `${id} container ${c.name}`;
			const sc = c.securityContext ?? {};
			if (sc.readOnlyRootFilesystem !== true || sc.allowPrivilegeEscalation !== false ||
			    !(sc.capabilities?.drop ?? []).includes("ALL"))
				problem(where, `${cid}: root fs not read-only, privilege escalation or capabilities left`);
			for (const r of ["requests", "limits"])
				if (!c.resources?.[r]?.cpu || !c.resources?.[r]?.memory)
					problem(where, `${cid}: no cpu and memory ${r}`);
			if (!k.images.has(c.image)) problem(where, `${cid}: image ${c.image} is not kustomize's images name`);
			for (const m of c.volumeMounts ?? [])
				if (!vols.has(m.name)) problem(where, `${cid}: mounts undefined volume ${m.name}`);
			const cmd = [...(c.command ?? []), ...(c.args ?? [])];
			// $(VAR) in a command is expanded by the kubelet from the
			// container's env; an undefined one stays literal text
			const env = new Set((c.env ?? []).map(e => e.name));
			for (const a of cmd)
				for (const m of a.matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g))
					if (!env.has(m[1])) problem(where, `${cid}: $(${m[1]}) is not in its env`);
			commands.push(cmd);
			for (const p of [c.readinessProbe, c.livenessProbe, c.startupProbe])
				if (p?.exec) commands.push(p.exec.command);
			for (const a of cmd)
				if (a.startsWith("/")) checkPath(where, cid, a, c, vols, k);
			if (cmd[0] === "gatewayd") checkGateway(where, cid, c, cmd, vols, k, gw);
		}
	}

	// The gateway config's zones against the accounts and Services.
	for (const [name, z] of Object.entries(gw.zones)) {
		if (z.k8s) {
			if (z.k8s.namespace !== k.namespace)
				problem(gwConfigPath, `zone ${name}: namespace ${z.k8s.namespace} is not ${k.namespace}`);
			if (!accountUse.has(z.k8s.serviceAccount))
				problem(gwConfigPath, `zone ${name}: no pod runs as ${z.k8s.serviceAccount}`);
		}
		if (z.url) {
			const m = /^https?:\/\/([a-z0-9-]+)\.([a-z0-9-]+)\.svc:(\d+)\/mcp$/.exec(z.url);
			if (!m) { problem(gwConfigPath, `zone ${name}: url ${z.url} is not a Service of the namespace`); continue; }
			const [, svc, ns, port] = m;
			if (ns !== k.namespace) problem(gwConfigPath, `zone ${name}: url in namespace ${ns}`);
			const s = services.get(svc), sb = sandboxes.get(svc);
			const target = s ? pods.find(p => labelsMatch({ matchLabels: s.spec.selector }, p.labels))
				: sb?.spec.service ? pods.find(p => p.o === sb) : undefined;
			if (!target) { problem(gwConfigPath, `zone ${name}: no Service ${svc} selecting a pod`); continue; }
			const sp = s ? s.spec.ports.find(p => p.port === Number(port)) : { targetPort: Number(port) };
			const ports = target.spec.containers.flatMap(c => c.ports ?? []);
			if (!sp || !ports.some(p => p.name === sp.targetPort || p.containerPort === sp.targetPort))
				problem(gwConfigPath, `zone ${name}: ${svc}:${port} reaches no container port`);
			const serves = target.spec.containers.some(c => c.command?.[0] === "mcpd" &&
				c.command.includes("--http") && ports.some(p => p.containerPort === Number(port)));
			if (!serves) problem(gwConfigPath, `zone ${name}: ${target.id} runs no mcpd --http on ${port}`);
			if (z.url.startsWith("http:") && !z.insecure_http)
				problem(gwConfigPath, `zone ${name}: http:// without insecure_http`);
		}
	}

	// NetworkPolicies: the gateway is the only path between zones.
	const nps = all.filter(o => o.kind === "NetworkPolicy");
	const role = r => pods.filter(p => p.labels["zonegate.io/role"] === r);
	const [gws, agents, tools] = [role("gateway"), role("agent"), role("tool")];
	if (!gws.length || !agents.length || !tools.length)
		problem(where, "pods without the zonegate.io/role labels gateway, agent, tool");
	if (gws.length + agents.length + tools.length !== pods.length)
		problem(where, "a pod without a zonegate.io/role label");
	const gwPort = Number(gw.listeners[0].listen.split(":").pop());
	for (const a of agents) {
		for (const g of gws)
			if (!allowed(nps, a.labels, g.labels, gwPort))
				problem(where, `NetworkPolicies: ${a.id} cannot reach ${g.id}:${gwPort}`);
		for (const g of gws)
			if (!allowed(nps, g.labels, a.labels, 8080))
				problem(where, `NetworkPolicies: ${g.id} cannot reach ${a.id}:8080`);
	}
	for (const t of tools)
		for (const g of gws)
			if (!allowed(nps, g.labels, t.labels, 8080))
				problem(where, `NetworkPolicies: ${g.id} cannot reach ${t.id}:8080`);
	for (const a of [...agents, ...tools])
		for (const b of [...agents, ...tools])
			for (const port of [8080, gwPort])
				if (a !== b && allowed(nps, a.labels, b.labels, port))
					problem(where, `NetworkPolicies: ${a.id} reaches ${b.id}:${port} around the gateway`);

	// Every file under deploy/kubernetes belongs to some form.
	return k.files;
}

// ---- the set kubectl apply -k makes ---------------------------------------
// Every object of the kustomization (resources and generated ConfigMaps,
// after its namespace transformer) once by kind/namespace/name; what
// prepare.sh makes beforehand (kubectl create configmap / secret) is
// listed beside it and must not be in it too. Returns {has(kind, name),
// keys(name): the generated ConfigMap's keys or undefined}.
function buildSet(where, all, k, prepare) {
	const made = kind => new Set([...prepare.matchAll(kind === "ConfigMap"
		? /create configmap ([a-z0-9.-]+)/g : /create secret (?:tls|generic) ([a-z0-9.-]+)/g)].map(m => m[1]));
	const prepared = { ConfigMap: made("ConfigMap"), Secret: made("Secret") };
	const idOf = (kind, ns, name) => `${kind}/${ns ?? "(cluster)"}/${name}`;
	const generated = [...k.configMaps.keys()].map(name =>
		({ kind: "ConfigMap", metadata: { name, namespace: k.namespace } }));
	const ids = new Set();
	for (const o of [...all, ...generated]) {
		const id = idOf(o.kind, o.metadata?.namespace, o.metadata?.name);
		if (!o.metadata?.name) problem(where, `a ${o.kind} without a name`);
		else if (ids.has(id)) problem(where, `${id} is in the set twice`);
		ids.add(id);
	}
	for (const kind of ["ConfigMap", "Secret"])
		for (const name of prepared[kind])
			if (ids.has(idOf(kind, k.namespace, name)))
				problem(where, `${kind} ${name} is made by prepare.sh and by the kustomization`);
	return {
		has: (kind, name) => ids.has(idOf(kind, k.namespace, name)) || prepared[kind].has(name),
		keys: name => k.configMaps.get(name),
	};
}

// Every ConfigMap and Secret a pod names (volumes, projected volumes, env,
// envFrom, image pull secrets) exists in the set or is made by prepare.sh,
// unless the reference is optional; a key of a generated ConfigMap exists.
function checkRefs(where, id, spec, k, set) {
	const ref = (kind, name, optional, key) => {
		if (!name) return;
		if (!set.has(kind, name)) {
			if (!optional) problem(where, `${id}: ${kind} ${name} is neither in the set nor made by prepare.sh`);
			return;
		}
		const keys = kind === "ConfigMap" && set.keys(name);
		if (keys && key !== undefined && !keys.has(key) && !optional)
			problem(where, `${id}: ConfigMap ${name} has no key ${key}`);
	};
	for (const v of spec.volumes ?? []) {
		ref("ConfigMap", v.configMap?.name, v.configMap?.optional);
		for (const i of v.configMap?.items ?? []) ref("ConfigMap", v.configMap.name, v.configMap.optional, i.key);
		ref("Secret", v.secret?.secretName, v.secret?.optional);
		for (const s of v.projected?.sources ?? []) {
			ref("ConfigMap", s.configMap?.name, s.configMap?.optional);
			for (const i of s.configMap?.items ?? []) ref("ConfigMap", s.configMap.name, s.configMap.optional, i.key);
			ref("Secret", s.secret?.name, s.secret?.optional);
		}
	}
	for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
		for (const e of c.env ?? []) {
			const cm = e.valueFrom?.configMapKeyRef, sec = e.valueFrom?.secretKeyRef;
			if (cm) ref("ConfigMap", cm.name, cm.optional, cm.key);
			if (sec) ref("Secret", sec.name, sec.optional);
		}
		for (const e of c.envFrom ?? []) {
			ref("ConfigMap", e.configMapRef?.name, e.configMapRef?.optional);
			ref("Secret", e.secretRef?.name, e.secretRef?.optional);
		}
	}
	for (const s of spec.imagePullSecrets ?? []) ref("Secret", s.name, false);
}

// An absolute path a command names: the image's own files, or under a
// mount whose generated ConfigMap has that key.
function checkPath(where, cid, p, c, vols, k) {
	if (p.startsWith("/usr/") || p.startsWith("/run/zonegate/")) return;
	const m = (c.volumeMounts ?? []).find(m => p.startsWith(m.mountPath + "/"));
	if (!m) { problem(where, `${cid}: ${p} is on no volume (the root fs is read-only and empty there)`); return; }
	const v = vols.get(m.name);
	const cm = v?.configMap?.name;
	const rest = p.slice(m.mountPath.length + 1);
	if (cm && k.configMaps.has(cm) && !k.configMaps.get(cm).has(rest))
		problem(where, `${cid}: ${p}: ConfigMap ${cm} has no key ${rest}`);
	const items = v?.projected?.sources.flatMap(s =>
		s.serviceAccountToken ? [s.serviceAccountToken.path] : (s.configMap?.items ?? []).map(i => i.path));
	if (items && !items.includes(rest)) problem(where, `${cid}: ${p} is not in the projected volume`);
}

// gatewayd's container: the config it runs is the generated one, every
// path in it is mounted, and both probes ask gatewayctl status of it.
function checkGateway(where, cid, c, cmd, vols, k, gw) {
	const cfg = cmd[cmd.indexOf("--config") + 1];
	for (const p of [c.readinessProbe, c.livenessProbe]) {
		const e = p?.exec?.command ?? [];
		if (e[0] !== "gatewayctl" || e[e.indexOf("--config") + 1] !== cfg || e.at(-1) !== "status")
			problem(where, `${cid}: a probe is not gatewayctl --config ${cfg} status`);
	}
	const paths = [];
	const walk = v => {
		if (typeof v === "string" && v.startsWith("/")) paths.push(v);
		else if (v && typeof v === "object") Object.values(v).forEach(walk);
	};
	walk(gw);
	for (const p of paths) {
		if (p === gw.policy) {
			if (!(c.volumeMounts ?? []).some(m => m.mountPath === p)) problem(where, `${cid}: policy ${p} is not mounted`);
			continue;
		}
		checkPath(where, cid, p, c, vols, k);
	}
	const writable = ["admin_socket", "audit_log", "pins"].map(key => gw[key]);
	for (const p of writable) {
		const m = (c.volumeMounts ?? []).find(m => p.startsWith(m.mountPath + "/"));
		const v = m && vols.get(m.name);
		if (!v || !(v.emptyDir || v.persistentVolumeClaim))
			problem(where, `${cid}: ${p} is not on a writable volume`);
	}
	for (const key of ["audit_log", "pins"]) {
		const m = (c.volumeMounts ?? []).find(m => gw[key].startsWith(m.mountPath + "/"));
		if (!vols.get(m?.name)?.persistentVolumeClaim)
			problem(where, `${cid}: ${key} is not on the persistent volume`);
	}
}

const files = new Set([...checkForm(K8S), ...checkForm(path.join(K8S, "agent-sandbox"))]);
const listed = dir => readdirSync(dir).flatMap(f => {
	const p = path.join(dir, f);
	return statSync(p).isDirectory() ? listed(p) : [p];
});
for (const f of listed(K8S))
	if (!files.has(f) && !f.endsWith("prepare.sh")) problem(f, "not part of any kustomization");
for (const f of files) {
	if (!f.endsWith(".yaml")) continue;
	for (const { obj } of YAML.parseAllDocuments(readFileSync(f, "utf8")).map(d => ({ obj: d.toJS() })).filter(d => d.obj))
		if (obj.kind !== "Kustomization") await validateObject({ obj, file: f });
}

// The agents' hosted servers (mcpd --servers files) run commands too.
const serverFiles = [...files].filter(f => f.includes("/agents/") && f.endsWith(".json"));
for (const f of serverFiles)
	for (const srv of Object.values(JSON.parse(readFileSync(f, "utf8")).mcpServers))
		commands.push([srv.command, ...(srv.args ?? [])]);

// The Containerfile's CMD, for the flag check.
const cf = readFileSync(path.join(SRC, "deploy/Containerfile"), "utf8");
for (const m of cf.matchAll(/^CMD (\[.*\])$/gm)) commands.push(JSON.parse(m[1]));

const lines = f => readFileSync(f, "utf8").split("\n").length - 1;
const count = fs => [...fs].reduce((n, f) => n + lines(f), 0);
const deployForm = kustomize(K8S).files, sandboxForm = kustomize(path.join(K8S, "agent-sandbox")).files;
console.log(`lines: Deployment form ${count(deployForm)}, agent-sandbox form ${count(sandboxForm)}, ` +
	`all of deploy/kubernetes ${count(files) + lines(path.join(K8S, "prepare.sh"))} (with prepare.sh)`);

writeFileSync(path.join(OUT, "commands.tsv"), commands.map(c => c.join("\t")).join("\n") + "\n");
writeFileSync(path.join(OUT, "servers.txt"), serverFiles.join("\n") + "\n");
writeFileSync(path.join(OUT, "gateway.json"), path.join(K8S, "base/gateway.json") + "\n");
console.log(`${problems} problem(s) in deploy/kubernetes (${files.size} files, ${commands.length} commands)`);
process.exit(problems ? 1 : 0);
