package api

import (
	"fmt"
	"io/fs"
	"mime"
	"path"
	"strings"

	_ "embed"

	"github.com/gofiber/fiber/v2"
	swaggerfiles "github.com/swaggo/files/v2"
	"go.yaml.in/yaml/v3"
)

//go:embed openapi.yaml
var openAPIYAML []byte

// openAPIJSON converts the hand-written YAML document to the JSON that clients fetch.
func openAPIJSON() ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(openAPIYAML, &doc); err != nil {
		return nil, fmt.Errorf("api: openapi.yaml: %w", err)
	}
	return marshalJSON(doc)
}

func (s *Server) apiInfo(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{
		"name":    "T Backend",
		"version": s.cfg.Version,
		"commit":  s.cfg.Commit,
		"docs":    "/docs",
		"openapi": "/openapi.json",
		"routes":  s.surface(),
	})
}

func (s *Server) openAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(s.spec)
}

// docsHTML is our own page around the Swagger UI bundle (served from an embedded copy, so /docs
// works offline).
const docsHTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>T Backend API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui", deepLinking: true});
</script>
</body>
</html>
`

func (s *Server) docsPage(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.SendString(docsHTML)
}

func (s *Server) docsAsset(c *fiber.Ctx) error {
	name := path.Clean(c.Params("*"))
	if name == "" || name == "." || strings.HasPrefix(name, "..") || name == "index.html" {
		return fiber.ErrNotFound
	}
	data, err := fs.ReadFile(swaggerfiles.FS, name)
	if err != nil {
		return fiber.ErrNotFound
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		c.Set(fiber.HeaderContentType, t)
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age=86400")
	return c.Send(data)
}
