package ceiling

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// storeSource is the Go source of one service's store package, read as
// text: the test compares the statements it sends with the ceiling's
// copies without importing the services, so neither module depends on
// the other.
type storeSource struct {
	dir string
	// values are the package's constants and variables by name.
	values map[string]ast.Expr
	// funcs are its functions by name and its methods as "Type.Name".
	funcs map[string]*ast.FuncDecl
}

// readStore parses the non-test files of services/<service>/postgres.
func readStore(t *testing.T, service string) *storeSource {
	t.Helper()
	dir := filepath.Join("..", "..", "services", service, "postgres")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := &storeSource{dir: dir, values: map[string]ast.Expr{}, funcs: map[string]*ast.FuncDecl{}}
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					if vs, ok := spec.(*ast.ValueSpec); ok && len(vs.Values) == len(vs.Names) {
						for i, n := range vs.Names {
							s.values[n.Name] = vs.Values[i]
						}
					}
				}
			case *ast.FuncDecl:
				s.funcs[funcKey(d)] = d
			}
		}
	}
	return s
}

func funcKey(d *ast.FuncDecl) string {
	if d.Recv == nil || len(d.Recv.List) == 0 {
		return d.Name.Name
	}
	typ := d.Recv.List[0].Type
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	if id, ok := typ.(*ast.Ident); ok {
		return id.Name + "." + d.Name.Name
	}
	return d.Name.Name
}

// scope binds names of a function's parameters or locals to expressions
// of package scope: a string literal, or a package variable ("orderKeys"
// for a local that holds it).
type scope map[string]ast.Expr

// statements returns every string that function fn spells out whole: the
// string expressions of its body that evaluate to text with the names
// in sc and the package's constants and variables.
func (s *storeSource) statements(fn string, sc scope) ([]string, error) {
	d := s.funcs[fn]
	if d == nil {
		return nil, fmt.Errorf("%s has no function %s", s.dir, fn)
	}
	var out []string
	ast.Inspect(d.Body, func(n ast.Node) bool {
		e, ok := n.(ast.Expr)
		if !ok {
			return true
		}
		switch e.(type) {
		case *ast.BasicLit, *ast.BinaryExpr, *ast.SelectorExpr:
			if v, err := s.eval(e, sc); err == nil {
				out = append(out, v)
				return false
			}
		}
		return true
	})
	return out, nil
}

// eval evaluates a string expression made of literals, concatenations,
// names in sc or in the package, and fields: of a composite literal, or
// of a value that a package function builds from its arguments (the
// function's body assigns the field, or returns a literal that sets it).
func (s *storeSource) eval(e ast.Expr, sc scope) (string, error) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return "", fmt.Errorf("not a string: %s", e.Value)
		}
		return strconv.Unquote(e.Value)
	case *ast.ParenExpr:
		return s.eval(e.X, sc)
	case *ast.BinaryExpr:
		if e.Op != token.ADD {
			return "", fmt.Errorf("operator %s", e.Op)
		}
		x, err := s.eval(e.X, sc)
		if err != nil {
			return "", err
		}
		y, err := s.eval(e.Y, sc)
		return x + y, err
	case *ast.Ident:
		v, err := s.resolve(e.Name, sc)
		if err != nil {
			return "", err
		}
		return s.eval(v, nil)
	case *ast.SelectorExpr:
		x, ok := e.X.(*ast.Ident)
		if !ok {
			return "", fmt.Errorf("field %s of an expression", e.Sel.Name)
		}
		v, err := s.resolve(x.Name, sc)
		if err != nil {
			return "", err
		}
		return s.field(v, e.Sel.Name)
	}
	return "", fmt.Errorf("%T is not evaluated", e)
}

// resolve finds name in sc, else among the package's values.
func (s *storeSource) resolve(name string, sc scope) (ast.Expr, error) {
	if v, ok := sc[name]; ok {
		return v, nil
	}
	if v, ok := s.values[name]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("unknown name %s", name)
}

// field evaluates field name of v, an expression of package scope.
func (s *storeSource) field(v ast.Expr, name string) (string, error) {
	switch v := v.(type) {
	case *ast.Ident:
		w, err := s.resolve(v.Name, nil)
		if err != nil {
			return "", err
		}
		return s.field(w, name)
	case *ast.CompositeLit:
		for _, elt := range v.Elts {
			if kv, ok := elt.(*ast.KeyValueExpr); ok {
				if k, ok := kv.Key.(*ast.Ident); ok && k.Name == name {
					return s.eval(kv.Value, nil)
				}
			}
		}
		return "", fmt.Errorf("the literal sets no field %s", name)
	case *ast.CallExpr:
		return s.built(v, name)
	}
	return "", fmt.Errorf("field %s of a %T", name, v)
}

// built evaluates field name of what call, a call of a package function,
// returns: the function's parameters are bound to the call's arguments,
// then the value it gives the field is evaluated.
func (s *storeSource) built(call *ast.CallExpr, name string) (string, error) {
	id, ok := call.Fun.(*ast.Ident)
	if !ok || s.funcs[id.Name] == nil {
		return "", fmt.Errorf("field %s of a call of no package function", name)
	}
	d := s.funcs[id.Name]
	sc := scope{}
	i := 0
	for _, p := range d.Type.Params.List {
		for _, n := range p.Names {
			if i >= len(call.Args) {
				return "", fmt.Errorf("%s: too few arguments", id.Name)
			}
			a, err := s.eval(call.Args[i], nil)
			if err != nil {
				return "", fmt.Errorf("%s argument %s: %w", id.Name, n.Name, err)
			}
			sc[n.Name] = &ast.BasicLit{Kind: token.STRING, Value: strconv.Quote(a)}
			i++
		}
	}
	var value ast.Expr
	ast.Inspect(d.Body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt:
			for j, l := range n.Lhs {
				if sel, ok := l.(*ast.SelectorExpr); ok && sel.Sel.Name == name && j < len(n.Rhs) {
					value = n.Rhs[j]
				}
			}
		case *ast.KeyValueExpr:
			if k, ok := n.Key.(*ast.Ident); ok && k.Name == name {
				value = n.Value
			}
		}
		return value == nil
	})
	if value == nil {
		return "", fmt.Errorf("%s sets no field %s", id.Name, name)
	}
	return s.eval(value, sc)
}

// flat folds runs of white space into one space: the services indent
// their statements as the code around them, the copies do not.
func flat(q string) string { return strings.Join(strings.Fields(q), " ") }
