import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { parseAllDocuments } from 'yaml'
import { Deployment } from 'kubernetes-models/apps/v1/Deployment'
import { Service } from 'kubernetes-models/v1/Service'
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler'
import { describe, expect, it } from 'vitest'
import { startCli } from '../helpers/cli.js'

/**
 * The container and its Kubernetes manifests. No container engine runs here, so the Dockerfile's
 * runtime contract is checked by running what it runs (the same command and environment, the
 * HEALTHCHECK command against it), and the manifests against the Kubernetes API schemas
 * (kubernetes-models) and against what the runtime serves (probe paths, ports).
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
const manifest = (name: string): Record<string, any> => {
  const docs = parseAllDocuments(readFileSync(join(ROOT, 'deploy/kubernetes', name), 'utf8'))
  expect(docs).toHaveLength(1)
  return (docs[0] as { toJS: () => Record<string, any> }).toJS()
}
/** `ENV A=1 \ B=2` -> {A: '1', B: '2'} */
const dockerEnv = (): Record<string, string> => {
  const block = /^ENV ((?:.*\\\n)*.*)$/m.exec(dockerfile)?.[1] ?? ''
  return Object.fromEntries(block.replace(/\\\n/g, ' ').trim().split(/\s+/).map((pair) => pair.split('=') as [string, string]))
}
const execForm = (instruction: string): string[] => JSON.parse(new RegExp(`^${instruction} (\\[.*\\])$`, 'm').exec(dockerfile)?.[1] ?? '[]') as string[]

describe('the Dockerfile', () => {
  it('builds in one stage and runs production dependencies as a non-root user in another', () => {
    expect(dockerfile.match(/^FROM /gm)).toHaveLength(2)
    expect(dockerfile).toMatch(/^RUN npm ci --omit=dev/m)
    expect(dockerfile).toMatch(/^USER node$/m)
  })

  it('runs node as PID 1 on the seed capability, every expose on 0.0.0.0, and its HEALTHCHECK passes against that', async () => {
    const env = dockerEnv()
    expect(env).toMatchObject({ NAFTIKO_HOST: '0.0.0.0', NAFTIKO_CONTROL_PORT: '9091' })
    const [node, ...entry] = execForm('ENTRYPOINT')
    expect(node).toBe('node')
    const args = [...entry, ...execForm('CMD')]
    expect(args).toEqual(['dist/cli.js', 'run', 'capabilities/chat-completions.yaml'])
    // the same command and environment, on free ports (the image's 8080, 9090 and 9091 may be taken here)
    const cli = await startCli([...args.slice(1), '--port', 'rest=0', '--port', 'mcp=0'], { ...env, NAFTIKO_CONTROL_PORT: '0', NAFTIKO_ALLOW_UNAUTHENTICATED: '1', CHATGPT_API_KEY: 'sk-container-test' }, 3)
    try {
      const control = cli.urls.get('control') as string
      expect(control).toMatch(/^http:\/\/0\.0\.0\.0:\d+/)
      const port = new URL(control).port
      const [hcNode, flag, script] = JSON.parse(/^HEALTHCHECK [^\n]*\\\n\s+CMD (\[.*\])$/m.exec(dockerfile)?.[1] ?? '[]') as string[]
      expect([hcNode, flag]).toEqual(['node', '-e'])
      const run = await promisify(execFile)(process.execPath, ['-e', (script as string).replace('9091', port)]).then(() => 0, (err: { code?: number }) => err.code ?? 1)
      expect(run).toBe(0)
    } finally {
      cli.child.kill('SIGTERM')
      expect(await cli.exited).toBe(0)
    }
  })
})

describe('the Kubernetes manifests', () => {
  const deployment = manifest('deployment.yaml')
  const container = deployment.spec.template.spec.containers[0]

  it('are valid Kubernetes objects', () => {
    expect(() => new Deployment(deployment as never).validate()).not.toThrow()
    expect(() => new Service(manifest('service.yaml') as never).validate()).not.toThrow()
    expect(() => new HorizontalPodAutoscaler(manifest('hpa.yaml') as never).validate()).not.toThrow()
    expect(manifest('kustomization.yaml').resources).toEqual(['deployment.yaml', 'service.yaml', 'hpa.yaml'])
  })

  it('probe the control port\'s liveness and readiness, on the port the image serves it on', () => {
    expect(container.livenessProbe.httpGet).toEqual({ path: '/health/live', port: 'control' })
    expect(container.readinessProbe.httpGet).toEqual({ path: '/health/ready', port: 'control' })
    const ports = Object.fromEntries(container.ports.map((p: { name: string, containerPort: number }) => [p.name, p.containerPort]))
    expect(ports).toEqual({ rest: 8080, mcp: 9090, control: Number(dockerEnv().NAFTIKO_CONTROL_PORT) })
    expect(dockerfile).toMatch(/^EXPOSE 8080 9090 9091$/m)
  })

  it('take the upstream key from a Secret and the capability from a ConfigMap, run as non-root, and scale the Deployment', () => {
    expect(container.envFrom).toEqual([{ secretRef: { name: 'naftiko-upstream' } }])
    expect(container.args).toEqual(['run', '/etc/naftiko/capability.yaml'])
    expect(deployment.spec.template.spec.volumes).toEqual([{ name: 'capability', configMap: { name: 'naftiko-capability' } }])
    expect(deployment.spec.template.spec.securityContext.runAsNonRoot).toBe(true)
    expect(manifest('hpa.yaml').spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'naftiko' })
    expect(manifest('service.yaml').spec.selector).toEqual(deployment.spec.selector.matchLabels)
  })
})
