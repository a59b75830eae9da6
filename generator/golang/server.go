package golang

import (
	"time"

	"github.com/dave/jennifer/jen"

	"github.com/taskwire/taskwire/generator/model"
	"github.com/taskwire/taskwire/runtime/audit"
	rtgraph "github.com/taskwire/taskwire/runtime/graph"
)

// serverFile generates the service descriptor and NewServer.
func (g *gen) serverFile() *jen.File {
	f := g.newFile()
	f.Anon("embed")
	f.Comment("openAPIDocument is the OpenAPI document of the service, served at /openapi.json.")
	f.Comment("")
	f.Comment("//go:embed " + OpenAPIFile)
	f.Var().Id("openAPIDocument").Index().Byte()

	f.Comment("Service describes the service to the HTTP layer: its pipelines, routes,")
	f.Comment("security policy and OpenAPI document, as the spec declares them.")
	f.Func().Id("Service").Params().Qual(httpapiPath, "Service").Block(jen.Return(g.service()))

	f.Comment("NewServer binds impl to the spec's tasks and pipelines and returns the HTTP")
	f.Comment("server of the service, configured by opts.")
	f.Func().Id("NewServer").Params(
		jen.Id("impl").Id("Tasks"),
		jen.Id("opts").Op("...").Qual(httpapiPath, "Option"),
	).Params(jen.Op("*").Qual(httpapiPath, "Server"), jen.Error()).Block(
		jen.Id("reg").Op(":=").Qual(runtimePath, "NewRegistry").Call(),
		jen.If(jen.Err().Op(":=").Id("Register").Call(jen.Id("reg"), jen.Id("impl")), jen.Err().Op("!=").Nil()).Block(
			jen.Return(jen.Nil(), jen.Err()),
		),
		jen.Return(jen.Qual(httpapiPath, "New").Call(jen.Id("reg"), jen.Id("Service").Call(), jen.Id("opts").Op("..."))),
	)
	return f
}

// service returns the httpapi.Service literal of the model.
func (g *gen) service() *jen.Statement {
	m := g.m
	var pipelines lit
	for _, p := range m.Pipelines {
		pipelines.add(jen.Id(httpPipelineFunc(p)).Call())
	}
	var routes lit
	for _, r := range m.Routes {
		routes.add(route(r))
	}
	var l lit
	l.set("Title", jen.Lit(m.Service.Title))
	l.set("Version", jen.Lit(m.Service.Version))
	if len(m.Pipelines) > 0 {
		l.set("Pipelines", jen.Index().Qual(httpapiPath, "Pipeline").Add(pipelines.multi()))
	}
	l.set("Routes", jen.Index().Qual(httpapiPath, "Route").Add(routes.multi()))
	l.set("Security", security(m.Security))
	l.set("OpenAPI", jen.Id("openAPIDocument"))
	return jen.Qual(httpapiPath, "Service").Add(l.multi())
}

// actions maps model actions to httpapi constants.
var actions = map[model.Action]string{
	model.ActionRead: "ActionRead", model.ActionExecute: "ActionExecute", model.ActionWrite: "ActionWrite",
}

// route returns the httpapi.Route literal of r.
func route(r *model.Route) *jen.Statement {
	var l lit
	l.set("Method", jen.Lit(r.Method))
	l.set("Path", jen.Lit(r.Path))
	l.set("OperationID", jen.Lit(r.OperationID))
	l.set("RouteKey", jen.Lit(r.RouteKey))
	if r.Action != "" {
		l.set("Action", jen.Qual(httpapiPath, actions[r.Action]))
	}
	l.str("Pipeline", r.Pipeline)
	if r.Public {
		l.set("Public", jen.True())
	}
	if r.RateLimit != nil {
		l.set("RateLimit", jen.Op("&").Qual(httpapiPath, "Rate").Values(
			jen.Id("N").Op(":").Lit(r.RateLimit.N),
			jen.Id("Per").Op(":").Add(duration(r.RateLimit.Period)),
		))
	}
	return l.line()
}

// security returns the httpapi.Security literal of s.
func security(s *model.Security) *jen.Statement {
	var l lit
	if s == nil {
		return jen.Qual(httpapiPath, "Security").Values()
	}
	l.set("Enabled", jen.Lit(s.Enabled))
	if s.Has(model.AuthAPIKey) {
		l.set("APIKey", jen.True())
	}
	if s.Has(model.AuthJWT) {
		l.set("JWT", jen.True())
	}
	l.str("APIKeyHeader", s.APIKeyHeader)
	if len(s.Keys) > 0 {
		var keys lit
		for _, k := range s.Keys {
			var kl lit
			kl.set("ID", jen.Lit(k.ID))
			kl.str("Env", k.Env)
			kl.str("SHA256", k.SHA256)
			kl.set("Role", jen.Lit(k.Role))
			kl.set("Pipelines", stringSlice(k.Pipelines))
			if !k.Expires.IsZero() {
				kl.set("Expires", timeLit(k.Expires))
			}
			keys.add(kl.line())
		}
		l.set("Keys", jen.Index().Qual(httpapiPath, "Key").Add(keys.multi()))
	}
	if j := s.JWT; j != nil {
		var jl lit
		jl.set("Algorithm", jen.Lit(j.Algorithm))
		jl.str("SecretEnv", j.SecretEnv)
		jl.str("PublicKeyFile", j.PublicKeyFile)
		jl.str("Issuer", j.Issuer)
		jl.str("Audience", j.Audience)
		jl.set("RoleClaim", jen.Lit(j.RoleClaim))
		jl.set("PipelinesClaim", jen.Lit(j.PipelinesClaim))
		if j.Leeway != 0 {
			jl.set("Leeway", duration(j.Leeway))
		}
		l.set("JWTConfig", jen.Op("&").Qual(httpapiPath, "JWT").Add(jl.multi()))
	}
	if len(s.ACLs) > 0 {
		var acls lit
		for _, a := range s.ACLs {
			var al lit
			al.set("Pattern", jen.Lit(a.Pattern))
			al.set("Read", stringSlice(a.Grants[model.ActionRead]))
			al.set("Execute", stringSlice(a.Grants[model.ActionExecute]))
			al.set("Write", stringSlice(a.Grants[model.ActionWrite]))
			acls.add(al.line())
		}
		l.set("ACLs", jen.Index().Qual(httpapiPath, "ACL").Add(acls.multi()))
	}
	if s.RequireHTTPS {
		l.set("RequireHTTPS", jen.True())
	}
	if len(s.TrustedProxies) > 0 {
		ps := make([]string, len(s.TrustedProxies))
		for i, p := range s.TrustedProxies {
			ps[i] = p.String()
		}
		l.set("TrustedProxies", stringSlice(ps))
	}
	l.set("Audit", auditLit(s.Audit))
	return jen.Qual(httpapiPath, "Security").Add(l.multi())
}

// syncModeNames are the Go names of the audit sync modes.
var syncModeNames = map[audit.SyncMode]string{audit.Interval: "Interval", audit.Always: "Always"}

// auditLit is the httpapi.Audit literal of the audit configuration.
func auditLit(a model.Audit) *jen.Statement {
	var al lit
	al.set("Enabled", jen.Lit(a.Enabled))
	al.str("File", a.File)
	if a.MaxSize != 0 {
		al.set("MaxSize", jen.Lit(int(a.MaxSize)))
	}
	if name := syncModeNames[a.Sync]; name != "" {
		al.set("Sync", jen.Qual(auditPath, name))
	}
	if a.SyncInterval != 0 {
		al.set("SyncInterval", duration(a.SyncInterval))
	}
	return jen.Qual(httpapiPath, "Audit").Add(al.line())
}

// timeLit returns t as a time.Date literal in UTC.
func timeLit(t time.Time) *jen.Statement {
	t = t.UTC()
	return jen.Qual("time", "Date").Call(
		jen.Lit(t.Year()), jen.Qual("time", t.Month().String()), jen.Lit(t.Day()),
		jen.Lit(t.Hour()), jen.Lit(t.Minute()), jen.Lit(t.Second()), jen.Lit(t.Nanosecond()),
		jen.Qual("time", "UTC"),
	)
}

// graphKinds maps node kinds to the runtime/graph constants.
var graphKinds = map[string]string{
	rtgraph.KindInput: "KindInput", rtgraph.KindTask: "KindTask", rtgraph.KindOutput: "KindOutput",
}

// graphLit returns the *graph.Graph literal of gr.
func graphLit(gr *rtgraph.Graph) *jen.Statement {
	var nodes lit
	for _, n := range gr.Nodes {
		var l lit
		l.set("ID", jen.Lit(n.ID))
		l.set("Kind", jen.Qual(graphPath, graphKinds[n.Kind]))
		l.set("Name", jen.Lit(n.Name))
		l.str("Type", n.Type)
		l.str("MapOf", n.MapOf)
		nodes.add(l.line())
	}
	var edges lit
	for _, e := range gr.Edges {
		var l lit
		l.set("From", jen.Lit(e.From))
		l.set("To", jen.Lit(e.To))
		l.set("Name", jen.Lit(e.Name))
		if e.Map {
			l.set("Map", jen.True())
		}
		edges.add(l.line())
	}
	var l lit
	l.set("Pipeline", jen.Lit(gr.Pipeline))
	l.set("Nodes", jen.Index().Qual(graphPath, "Node").Add(nodes.multi()))
	l.set("Edges", jen.Index().Qual(graphPath, "Edge").Add(edges.multi()))
	return jen.Op("&").Qual(graphPath, "Graph").Add(l.multi())
}
