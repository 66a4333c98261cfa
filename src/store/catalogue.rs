//! Departments and categories, keyed by their identifiers.

use super::codec::{self, Versioned};
use super::{StoreBuilder, TreeId, Tx, TxResult, store_error};
use crate::domain::Result;
use crate::domain::catalogue::{Category, Department};

impl Versioned for Department {
    const KIND: &'static str = "department";
    const VERSION: u8 = 1;
}

impl Versioned for Category {
    const KIND: &'static str = "category";
    const VERSION: u8 = 1;
}

#[derive(Clone)]
pub struct CatalogueRepo {
    departments: sled::Tree,
    departments_id: TreeId,
    categories: sled::Tree,
    categories_id: TreeId,
}

impl CatalogueRepo {
    pub fn open(builder: &mut StoreBuilder) -> Result<CatalogueRepo> {
        let (departments, departments_id) = builder.tree("department")?;
        let (categories, categories_id) = builder.tree("category")?;
        Ok(CatalogueRepo { departments, departments_id, categories, categories_id })
    }

    pub fn department(&self, id: &str) -> Result<Option<Department>> {
        get(&self.departments, id)
    }

    pub fn category(&self, id: &str) -> Result<Option<Category>> {
        get(&self.categories, id)
    }

    pub fn departments(&self) -> Result<Vec<Department>> {
        all(&self.departments)
    }

    pub fn categories(&self) -> Result<Vec<Category>> {
        all(&self.categories)
    }

    pub fn department_tx(&self, tx: &Tx<'_>, id: &str) -> TxResult<Option<Department>> {
        Ok(tx.get(self.departments_id, id.as_bytes())?.map(|v| codec::decode(&v)).transpose()?)
    }

    pub fn category_tx(&self, tx: &Tx<'_>, id: &str) -> TxResult<Option<Category>> {
        Ok(tx.get(self.categories_id, id.as_bytes())?.map(|v| codec::decode(&v)).transpose()?)
    }

    pub fn put_department(&self, tx: &Tx<'_>, department: &Department) -> TxResult<()> {
        tx.insert(self.departments_id, department.id.as_bytes(), &codec::encode(department)?)
    }

    pub fn put_category(&self, tx: &Tx<'_>, category: &Category) -> TxResult<()> {
        tx.insert(self.categories_id, category.id.as_bytes(), &codec::encode(category)?)
    }
}

fn get<T: Versioned>(tree: &sled::Tree, id: &str) -> Result<Option<T>> {
    tree.get(id.as_bytes()).map_err(store_error)?.map(|v| codec::decode(&v)).transpose()
}

fn all<T: Versioned>(tree: &sled::Tree) -> Result<Vec<T>> {
    tree.iter().map(|item| item.map_err(store_error).and_then(|(_, v)| codec::decode(&v))).collect()
}
