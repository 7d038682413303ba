package boot

// Vars is an ordered set of name=value variables: a GRUB environment block
// or a U-Boot environment.
type Vars struct {
	names  []string
	values map[string]string
}

// Get returns a variable's value and whether it is set.
func (v *Vars) Get(name string) (string, bool) {
	val, ok := v.values[name]
	return val, ok
}

// Set sets a variable, keeping the order of the others; a new one goes last.
func (v *Vars) Set(name, value string) {
	if v.values == nil {
		v.values = map[string]string{}
	}
	if _, ok := v.values[name]; !ok {
		v.names = append(v.names, name)
	}
	v.values[name] = value
}

// Unset removes a variable.
func (v *Vars) Unset(name string) {
	if _, ok := v.values[name]; !ok {
		return
	}
	delete(v.values, name)
	for i, n := range v.names {
		if n == name {
			v.names = append(v.names[:i], v.names[i+1:]...)
			break
		}
	}
}

// Names returns the variables' names in order.
func (v *Vars) Names() []string { return append([]string(nil), v.names...) }
